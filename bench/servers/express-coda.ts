/**
 * servers/express.ts with Coda's adapter: the same five middlewares and
 * route, but the after task is registered with `after()` from the first
 * middleware (as in servers/coda.ts) instead of the response's 'finish'.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/express.js';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';
import { expressApp } from './express-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`express-coda runs the scenarios with an after task, not ${scenario}`);
const app = expressApp(scenario, {
  install: (express) => void express.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) })),
  first: () => after(task),
});

const server = createServer(app);
await listen(server, port);
await ready('express', scenario, server);
