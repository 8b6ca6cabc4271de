/** servers/fastify.ts with Coda's plugin: the after task registered with `after()` from the first onRequest hook instead of an onResponse hook. */
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/fastify.js';
import { afterTask, ready, serverArgs } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';
import { fastifyApp } from './fastify-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`fastify-coda runs the scenarios with an after task, not ${scenario}`);
const app = await fastifyApp(scenario, {
  install: async (fastify) => {
    await fastify.register(coda, { ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) });
  },
  first: () => after(task),
});

await app.listen({ port, host: '127.0.0.1' });
await ready('fastify', scenario, app.server);
