/**
 * Fastify 5: each middleware is an onRequest hook (in) and an onSend hook
 * (out); errors go to Fastify's default error handler. Logging is off
 * (Fastify's default). The after task is wired by the caller (see wiring.ts).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HELLO, maybeFail, MISSING, type Scenario, STACK_HEADERS } from '../shared.js';
import type { AfterWiring } from './wiring.js';

type Seen = Record<string, string>;

export async function fastifyApp(scenario: Scenario, wiring: AfterWiring<FastifyInstance, FastifyRequest>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await wiring.install?.(app);
  if (scenario === 'hello') {
    app.get('/', (_request, reply) => {
      reply.type('text/plain; charset=utf-8').send(HELLO);
    });
    return app;
  }
  STACK_HEADERS.forEach((name, i) => {
    const key = `seen-${name}`;
    app.decorateRequest(key, MISSING);
    app.addHook('onRequest', (request, _reply, done) => {
      if (i === 0) wiring.first?.(request);
      const value = request.headers[name];
      (request as unknown as Seen)[key] = typeof value === 'string' ? value : MISSING;
      done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      reply.header(name, (request as unknown as Seen)[key]);
      done(null, payload);
    });
  });
  if (scenario === 'errors') app.addHook('onRequest', (_request, _reply, done) => {
    maybeFail();
    done();
  });
  app.get('/users/:id', (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    reply.send({ id: request.params.id });
  });
  return app;
}
