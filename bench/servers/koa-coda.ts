/** servers/koa.ts with Coda's adapter: the after task registered with `after()` from the first middleware instead of `ctx.res.on('finish')`. */
import { createServer } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/koa.js';
import { afterTask, listen, maybeFail, ready, serverArgs, STACK_HEADERS, MISSING } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`koa-coda runs the scenarios with an after task, not ${scenario}`);
const app = new Koa();
app.silent = true;
app.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) }));
STACK_HEADERS.forEach((name, i) => {
  app.use(async (ctx, next) => {
    if (i === 0) after(task);
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

const server = createServer(app.callback());
await listen(server, port);
await ready('koa', scenario, server);
