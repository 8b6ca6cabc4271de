/** servers/hono.ts with Coda's adapter: the after task registered with `after()` from the first middleware instead of the raw response's 'finish'. */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/hono.js';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';
import { honoApp } from './hono-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`hono-coda runs the scenarios with an after task, not ${scenario}`);
const app = honoApp(scenario, {
  install: (hono) => void hono.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) })),
  first: () => after(task),
});

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
await listen(server, port);
await ready('hono', scenario, server);
