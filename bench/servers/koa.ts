/**
 * Koa 3: five async middlewares (read before `await next()`, set after), the
 * after task on the raw response's 'finish', @koa/router, and Koa's own error
 * handling (`app.silent` keeps it from printing every 500).
 */
import { createServer } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { afterTask, HELLO, listen, maybeFail, ready, serverArgs, STACK_HEADERS, MISSING } from '../shared.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = new Koa();
app.silent = true;

if (scenario === 'hello') {
  app.use((ctx) => {
    ctx.body = HELLO;
  });
} else {
  STACK_HEADERS.forEach((name, i) => {
    app.use(async (ctx, next) => {
      if (i === 0 && task !== undefined) ctx.res.on('finish', task);
      const seen = ctx.get(name) || MISSING;
      await next();
      ctx.set(name, seen);
    });
  });
  if (scenario === 'errors') app.use((_ctx, next) => {
    maybeFail();
    return next();
  });
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  app.use(router.routes());
}

const server = createServer(app.callback());
await listen(server, port);
await ready('koa', scenario, server);
