/**
 * Koa 3: five async middlewares (read before `await next()`, set after),
 * @koa/router, and Koa's own error handling (`app.silent` keeps it from
 * printing every 500). The after task is wired by the caller (see wiring.ts).
 */
import Router from '@koa/router';
import Koa from 'koa';
import { HELLO, maybeFail, MISSING, type Scenario, STACK_HEADERS } from '../shared.js';
import type { AfterWiring } from './wiring.js';

export function koaApp(scenario: Scenario, wiring: AfterWiring<Koa, Koa.Context>): Koa {
  const app = new Koa();
  app.silent = true;
  wiring.install?.(app);
  if (scenario === 'hello') {
    app.use((ctx) => {
      ctx.body = HELLO;
    });
    return app;
  }
  STACK_HEADERS.forEach((name, i) => {
    app.use(async (ctx, next) => {
      if (i === 0) wiring.first?.(ctx);
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
  return app;
}
