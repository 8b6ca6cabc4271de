/**
 * Fastify 5: each middleware is an onRequest hook (in) and an onSend hook
 * (out); the after task is an onResponse hook; errors go to Fastify's default
 * error handler. Logging is off (Fastify's default).
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterTask, HELLO, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const app = Fastify({ logger: false });

if (scenario === 'hello') {
  app.get('/', (_request, reply) => {
    reply.type('text/plain; charset=utf-8').send(HELLO);
  });
} else {
  type Seen = Record<string, string>;
  for (const name of STACK_HEADERS) {
    const key = `seen-${name}`;
    app.decorateRequest(key, MISSING);
    app.addHook('onRequest', (request, _reply, done) => {
      const value = request.headers[name];
      (request as unknown as Seen)[key] = typeof value === 'string' ? value : MISSING;
      done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      reply.header(name, (request as unknown as Seen)[key]);
      done(null, payload);
    });
  }
  if (scenario === 'errors') app.addHook('onRequest', (_request, _reply, done) => {
    maybeFail();
    done();
  });
  if (task !== undefined) {
    if (scenario === 'after-io') app.addHook('onResponse', async () => task());
    else app.addHook('onResponse', (_request, _reply, done) => {
      void task();
      done();
    });
  }
  app.get('/users/:id', (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    reply.send({ id: request.params.id });
  });
}

await app.listen({ port, host: '127.0.0.1' });
await ready('fastify', scenario, app.server);
