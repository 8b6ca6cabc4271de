/** Fastify (see fastify-app.ts) with the after task as an onResponse hook. */
import { afterTask, ready, serverArgs } from '../shared.js';
import { fastifyApp } from './fastify-app.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = await fastifyApp(scenario, {
  install: (fastify) => {
    if (task === undefined) return;
    if (scenario === 'after-io') fastify.addHook('onResponse', async () => task());
    else fastify.addHook('onResponse', (_request, _reply, done) => {
      void task();
      done();
    });
  },
});

await app.listen({ port, host: '127.0.0.1' });
await ready('fastify', scenario, app.server);
