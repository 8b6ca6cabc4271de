/** servers/koa.ts with Coda's adapter: the after task registered with `after()` from the first middleware instead of `ctx.res.on('finish')`. */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/koa.js';
import { afterTask, listen, ready, serverArgs } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';
import { koaApp } from './koa-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`koa-coda runs the scenarios with an after task, not ${scenario}`);
const app = koaApp(scenario, {
  install: (koa) => void koa.use(coda({ ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) })),
  first: () => after(task),
});

const server = createServer(app.callback());
await listen(server, port);
await ready('koa', scenario, server);
