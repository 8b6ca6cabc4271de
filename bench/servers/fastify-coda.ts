/** servers/fastify.ts with Coda's plugin: the after task registered with `after()` from the first onRequest hook instead of an onResponse hook. */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { pino } from 'pino';
import { after } from '../../src/index.js';
import { coda } from '../../src/adapters/fastify.js';
import { afterTask, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';
import { ADAPTER_OPTIONS } from './adapter-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
if (task === undefined) throw new Error(`fastify-coda runs the scenarios with an after task, not ${scenario}`);
const app = Fastify({ logger: false });
await app.register(coda, { ...ADAPTER_OPTIONS, logger: pino({ level: 'silent' }) });

type Seen = Record<string, string>;
STACK_HEADERS.forEach((name, i) => {
  const key = `seen-${name}`;
  app.decorateRequest(key, MISSING);
  app.addHook('onRequest', (request, _reply, done) => {
    if (i === 0) after(task);
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

await app.listen({ port, host: '127.0.0.1' });
await ready('fastify', scenario, app.server);
