/** servers/hono.ts with Coda's adapter: the after task registered with `after()` from the first middleware instead of the raw response's 'finish'. */
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/hono.js';
import { afterTask, listen, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`hono-coda runs the scenarios with an after task, not ${scenario}`);
const app = new Hono<{ Bindings: HttpBindings }>();
app.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) }));
STACK_HEADERS.forEach((name, i) => {
  app.use(async (c, next) => {
    if (i === 0) after(task);
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

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
await listen(server, port);
await ready('hono', scenario, server);
