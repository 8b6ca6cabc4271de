import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { after, sqliteStore, type Outcome, type TaskFailure } from 'coda-http';
import { coda } from 'coda-http/fastify';
import { welcomeEmail, type Mailer } from './tasks.js';

/** An analytics event, sent once its response is done. */
export interface AnalyticsEvent {
  event: string;
  outcome: Outcome;
}

/** What the app talks to: given by main.ts in production, by the tests in tests. */
export interface SignupDeps {
  /** The SQLite file the durable tasks are journaled in. */
  tasksPath: string;
  mailer: Mailer;
  track: (event: AnalyticsEvent) => void | Promise<void>;
  /** Where an in-memory task's failure goes (Coda's default: one error line in its log). */
  onTaskError?: (failure: TaskFailure) => void;
}

/**
 * The signup service: an ordinary Fastify app with Coda registered at the
 * root, before the routes. The welcome email is durable (journaled before the
 * 201's first byte, retried); the analytics event is in memory, cheap to lose.
 */
export async function signupApp(deps: SignupDeps): Promise<FastifyInstance> {
  const welcome = welcomeEmail(deps.mailer);
  const fastify = Fastify();
  await fastify.register(coda, {
    tasks: { definitions: [welcome], store: sqliteStore({ path: deps.tasksPath }) },
    after: deps.onTaskError ? { onError: deps.onTaskError } : {},
    shutdownTimeoutMs: 5_000,
  });

  fastify.post<{ Body: { email?: unknown } }>('/signup', async (request, reply) => {
    const { email } = request.body ?? {};
    if (typeof email !== 'string') return reply.code(400).send({ error: 'a signup is { email: string }' });
    const user = { id: randomUUID(), email };
    // One pending welcome per address, however often the client retries its signup.
    const { id } = await reply.after(welcome, { userId: user.id, email }, { when: 'success', key: `welcome:${email}` });
    after(({ outcome }) => deps.track({ event: 'signup', outcome }), { name: 'signup-analytics' });
    return reply.code(201).send({ ...user, welcomeTask: id });
  });

  // A handler that fails after registering its task: `when: 'success'` skips it on the 500.
  fastify.post('/import', async (_request, reply) => {
    reply.after(({ outcome }) => deps.track({ event: 'import', outcome }), { name: 'import-analytics', when: 'success' });
    throw new Error('the import file is not CSV');
  });

  // A feed streamed a line at a time, for a minute at most; a client that leaves ends it.
  fastify.get('/ticks', (_request, reply) => {
    reply.after(({ outcome }) => deps.track({ event: 'ticks', outcome }), { name: 'ticks-analytics' });
    return reply.type('text/plain').send(Readable.from((async function* () {
      for (let tick = 0; tick < 1_200; tick++) {
        yield `tick ${tick}\n`;
        await delay(50);
      }
    })()));
  });

  // A route that answers on the raw response itself, as a proxy or an old handler does.
  fastify.get('/legacy', (_request, reply) => {
    reply.after(({ outcome }) => deps.track({ event: 'legacy', outcome }), { name: 'legacy-analytics' });
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain' });
    reply.raw.end('written by hand');
  });

  return fastify;
}
