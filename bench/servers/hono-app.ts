/**
 * Hono 4 on @hono/node-server: five middlewares (read before `await next()`,
 * set after), and `app.onError` for the 500s (Hono's default prints each
 * error). The after task is wired by the caller (see wiring.ts).
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { HELLO, maybeFail, MISSING, type Scenario, STACK_HEADERS } from '../shared.js';
import type { AfterWiring } from './wiring.js';

type Env = { Bindings: HttpBindings };

export function honoApp(scenario: Scenario, wiring: AfterWiring<Hono<Env>, Context<Env>>): Hono<Env> {
  const app = new Hono<Env>();
  wiring.install?.(app);
  if (scenario === 'hello') {
    app.get('/', (c) => c.text(HELLO));
    return app;
  }
  STACK_HEADERS.forEach((name, i) => {
    app.use(async (c, next) => {
      if (i === 0) wiring.first?.(c);
      const seen = c.req.header(name) ?? MISSING;
      await next();
      c.header(name, seen);
    });
  });
  if (scenario === 'errors') app.use(async (_c, next) => {
    maybeFail();
    await next();
  });
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));
  app.onError((_error, c) => c.text('Internal Server Error', 500));
  return app;
}
