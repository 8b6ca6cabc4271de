/**
 * Hono 4 on @hono/node-server: five middlewares (read before `await next()`,
 * set after), the after task on the raw Node response (`c.env.outgoing`)'s
 * 'finish', and `app.onError` for the 500s (Hono's default prints each error).
 */
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { afterTask, HELLO, listen, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = new Hono<{ Bindings: HttpBindings }>();

if (scenario === 'hello') {
  app.get('/', (c) => c.text(HELLO));
} else {
  STACK_HEADERS.forEach((name, i) => {
    app.use(async (c, next) => {
      if (i === 0 && task !== undefined) c.env.outgoing.on('finish', task);
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
}

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
await listen(server, port);
await ready('hono', scenario, server);
