import Koa from 'koa';
import { coda, type KoaCoda } from 'coda-http/koa';
import type { AnalyticsEvent } from './app.js';

/**
 * The teammate's Koa app beside it: the same in-memory analytics task, on
 * `ctx.after()`. `tasks` is the Coda middleware, mounted first; attach it to
 * the server Koa listens with, so that closing the server drains the tasks.
 */
export function koaSignupApp(track: (event: AnalyticsEvent) => void | Promise<void>): { app: Koa; tasks: KoaCoda } {
  const tasks = coda();
  const app = new Koa();
  app.use(tasks);
  app.use(async (ctx) => {
    if (ctx.method !== 'POST' || ctx.path !== '/signup') return;
    ctx.after(({ outcome }) => track({ event: 'koa-signup', outcome }), { name: 'koa-signup-analytics', when: 'success' });
    ctx.status = 201;
    ctx.body = { ok: true };
  });
  return { app, tasks };
}
