// What each adapter does beyond the shared guarantees (guarantees.ts): its
// options checked, its per-response registration outside a request, a Coda
// middleware mounted twice, Hono's executionCtx on Node, Fastify's own close.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pipeline, Readable } from 'node:stream';
import net, { type AddressInfo } from 'node:net';
import http, { request as httpRequest, ServerResponse, type Server } from 'node:http';
import http2, { type Http2Server } from 'node:http2';
import { test, type TestContext } from 'node:test';
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { after, sqliteStore, task, type Outcome, type ShutdownReport, type TaskFailure } from 'coda-http';
import { coda as expressCoda, type Adapter, type AfterFunction, type ExpressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda, type HonoCoda } from 'coda-http/hono';
import { coda as koaCoda, type KoaCoda } from 'coda-http/koa';
import { deferred, memoryLogger } from '../helpers.js';
import { idleAndBusy } from './http2-clients.js';
import { printed } from './run-fixture.js';
import { targets } from './targets.js';

const urlOf = (server: Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** A GET whose response the test reads by hand. */
function open(url: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
}

async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return urlOf(server);
}

test('options are checked: an unknown key names the closest one; a bad scheduler option is refused where the adapter is made', async () => {
  assert.throws(() => expressCoda({ afer: {} } as never), /coda-http\/express coda\(\): unknown option "afer"; did you mean "after"\?/);
  // The access log is the framework's own (docs/adapters/README.md): refused as any unknown option.
  assert.throws(() => expressCoda({ accessLog: true } as never), /coda-http\/express coda\(\): unknown option "accessLog"; the options are after, tasks, logger, debug, metrics, tracing$/);
  assert.throws(() => koaCoda({ task: {} } as never), /coda-http\/koa coda\(\): unknown option "task"; did you mean "tasks"\?/);
  assert.throws(() => honoCoda({ after: { concurency: 2 } } as never), /unknown option "concurency"; did you mean "concurrency"\?/);
  const fastify = Fastify();
  await assert.rejects(async () => { await fastify.register(fastifyCoda, { shutdownTimeout: 5 } as never); }, /unknown option "shutdownTimeout"; did you mean "shutdownTimeoutMs"\?/);
  const tasks = expressCoda();
  const server = express().listen(0, '127.0.0.1');
  await listening(server);
  try {
    assert.throws(() => tasks.attach(server, { shutdownTimeout: 1 } as never), /attach\(\): unknown option "shutdownTimeout"; did you mean "shutdownTimeoutMs"\?/);
    assert.throws(() => tasks.attach(server, { handleSignals: 'yes' } as never), /attach\(\): handleSignals must be true or false, got string "yes"/);
    for (const value of [-1, Infinity, NaN, '60s']) {
      assert.throws(() => tasks.attach(server, { sendTimeoutMs: value } as never), { name: 'RangeError', message: /^attach\(\): sendTimeoutMs must be / });
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("after() outside a request says where it works; res.after() given a response Coda did not adopt says to mount the middleware first", async () => {
  const app = express();
  const failures: unknown[] = [];
  app.get('/early', (_req, res) => {
    try {
      after(() => {});
    } catch (error) {
      failures.push(error);
    }
    res.send('early');
  });
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/late', (req, res) => {
    try {
      (res.after as (this: unknown, task: () => void) => void).call(new ServerResponse(req), () => {});
    } catch (error) {
      failures.push(error);
    }
    res.send('late');
  });
  const server = app.listen(0, '127.0.0.1');
  const url = await listening(server);
  try {
    assert.equal(await (await fetch(`${url}/early`)).text(), 'early');
    assert.equal(await (await fetch(`${url}/late`)).text(), 'late');
    assert.match(String(failures[0]), /after\(\) was called outside a request/);
    assert.match(String(failures[1]), /res\.after\(\) was called for a request Coda's middleware did not see: mount it before the routes that use it/);
  } finally {
    await tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 100 });
  }
});

/** A framework's app with two Coda middlewares on the way to `/sub/x` (`outer` first), whose handler calls `handle(onResponse)` and answers 'x'. */
interface TwiceMounted {
  name: string;
  coda: () => Adapter;
  start(outer: Adapter, inner: Adapter, handle: (onResponse: AfterFunction) => void): Server;
}

const twiceMounted: TwiceMounted[] = [
  {
    name: 'Express (an app and a sub-app)',
    coda: expressCoda,
    start(outer, inner, handle) {
      const sub = express();
      sub.use(inner as ExpressCoda);
      sub.get('/x', (_req, res) => {
        handle(res.after.bind(res));
        res.send('x');
      });
      const app = express();
      app.use(outer as ExpressCoda);
      app.use('/sub', sub);
      return app.listen(0, '127.0.0.1');
    },
  },
  {
    name: 'Koa (twice in the chain)',
    coda: koaCoda,
    start(outer, inner, handle) {
      // Koa's use() chains: the second Coda middleware right after the first.
      return new Koa().use(outer as KoaCoda).use(inner as KoaCoda).use((ctx) => {
        handle(ctx.after.bind(ctx));
        ctx.body = 'x';
      }).listen(0, '127.0.0.1');
    },
  },
  {
    name: 'Hono (an app and a sub-app of route())',
    coda: honoCoda,
    start(outer, inner, handle) {
      const sub = new Hono();
      sub.use(inner as HonoCoda);
      sub.get('/x', (c) => {
        handle(c.after.bind(c));
        return c.text('x');
      });
      const app = new Hono();
      app.use(outer as HonoCoda);
      app.route('/sub', sub);
      return honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    },
  },
];

for (const { name, coda, start } of twiceMounted) {
  test(`${name}: mounted twice, the first adapter owns the request and its tasks run once`, async () => {
    const [outer, inner] = [coda(), coda()];
    const ran: string[] = [];
    const server = start(outer, inner, (onResponse) => {
      after(() => { ran.push('after'); });
      onResponse(() => { ran.push('per-response'); });
    });
    const url = await listening(server);
    const attached = outer.attach(server, { handleSignals: false });
    assert.equal(await (await fetch(`${url}/sub/x`)).text(), 'x');
    await outer.app.settle();
    assert.deepEqual(ran, ['after', 'per-response']);
    assert.equal(inner.app.afterStats().completed, 0);
    await attached.close({ timeoutMs: 100 });
  });
}

test("the task's response is the status and headers the framework sent", async () => {
  const tasks = koaCoda();
  const app = new Koa();
  app.use(tasks);
  const seen = deferred<{ status: number; type: string | null; custom: string | null }>();
  app.use((ctx) => {
    ctx.after(({ response }) => seen.resolve({ status: response.status, type: response.headers.get('content-type'), custom: response.headers.get('x-custom') }));
    ctx.set('x-custom', 'yes');
    ctx.status = 202;
    ctx.body = { ok: true };
  });
  const server = app.listen(0, '127.0.0.1');
  const url = await listening(server);
  assert.equal((await fetch(url)).status, 202);
  assert.deepEqual(await seen.promise, { status: 202, type: 'application/json; charset=utf-8', custom: 'yes' });
  await tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 100 });
});

test("a task's request is the request as it came (method and URL before a mounted router rewrote them, the client's address after its connection closed), made only when read", async () => {
  const tasks = expressCoda();
  const app = express();
  app.use(tasks);
  const closed = deferred();
  const seen: unknown[] = [];
  const api = express.Router();
  api.post('/x', (req, res) => {
    req.method = 'GET'; // as method-override middleware does
    req.socket.once('close', () => closed.resolve());
    res.after(async ({ request, outcome }) => {
      await closed.promise;
      seen.push({ method: request.method, url: request.url, path: request.path, query: request.query.get('q'), header: request.headers.get('x-test'), ip: request.ip, sameStart: request.startedAt === outcome.startedAt });
    });
    res.send(req.url);
  });
  app.use('/api', api);
  const server = app.listen(0, '127.0.0.1');
  await listening(server);
  const attached = tasks.attach(server, { handleSignals: false });
  try {
    // Connection: close: the server ends the connection with the response, before the task reads the request.
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/api/x?q=1', headers: { 'x-test': 'yes' }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      });
      req.on('error', reject).end();
    });
    assert.equal(body, '/x?q=1', 'the router rewrote req.url');
    await tasks.app.settle();
    assert.deepEqual(seen, [{ method: 'POST', url: '/api/x?q=1', path: '/api/x', query: '1', header: 'yes', ip: '127.0.0.1', sameStart: true }]);
  } finally {
    await attached.close({ timeoutMs: 100 });
  }
});

test('Hono: c.executionCtx.waitUntil() on Node: awaited after the response, a rejection reported (not unhandled), drained on close', async () => {
  const failures: TaskFailure[] = [];
  const tasks = honoCoda({ after: { onError: (failure) => failures.push(failure) } });
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.use(tasks);
  const slow = deferred();
  let slowDone = false;
  app.get('/', (c) => {
    c.executionCtx.waitUntil(Promise.reject(new Error('tracking failed')));
    c.executionCtx.waitUntil(slow.promise.then(() => { slowDone = true; }));
    assert.throws(() => c.executionCtx.passThroughOnException(), /no meaning on Node/);
    return c.text('ok');
  });
  const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const url = await listening(server);
  const attached = tasks.attach(server, { handleSignals: false });
  assert.equal(await (await fetch(url)).text(), 'ok');
  const closing = attached.close({ timeoutMs: 5_000 });
  slow.resolve();
  const report = await closing;
  assert.equal(slowDone, true);
  assert.deepEqual(failures.map((f) => [f.name, (f.error as Error).message]), [['waitUntil', 'tracking failed']]);
  assert.equal(report.tasksCompleted, 1);
});

test("Hono: Coda's c.after and c.executionCtx serve the requests it adopted only: a Hono app without Coda keeps Hono's own error, and its c.after says to mount Coda", async () => {
  const tasks = honoCoda();
  const withCoda = new Hono<{ Bindings: HttpBindings }>();
  withCoda.use(tasks);
  const ran: string[] = [];
  withCoda.get('/', (c) => {
    c.after(() => { ran.push('c.after'); });
    c.executionCtx.waitUntil(Promise.resolve().then(() => { ran.push('waitUntil'); }));
    return c.text('coda');
  });
  const plain = new Hono<{ Bindings: HttpBindings }>();
  const errors: string[] = [];
  plain.get('/', (c) => {
    for (const use of [() => c.executionCtx, () => c.after(() => {})]) {
      try {
        use();
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    return c.text('plain');
  });
  const codaServer = honoServe({ fetch: withCoda.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const plainServer = honoServe({ fetch: plain.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const attached = tasks.attach(codaServer, { handleSignals: false });
  try {
    assert.equal(await (await fetch(await listening(codaServer))).text(), 'coda');
    await tasks.app.settle();
    assert.deepEqual(ran.sort(), ['c.after', 'waitUntil']);
    assert.equal(await (await fetch(await listening(plainServer))).text(), 'plain');
    assert.deepEqual(errors, ['This context has no ExecutionContext', "c.after() was called for a request Coda's middleware did not see: mount it before the routes that use it"]);
  } finally {
    await attached.close({ timeoutMs: 100 });
    await new Promise((resolve) => plainServer.close(resolve));
  }
});

test('Fastify: plain fastify.close() drains the tasks and logs the report; the plugin decorates reply.after and fastify.coda', async () => {
  const { logger, lines } = memoryLogger();
  const fastify = Fastify();
  await fastify.register(fastifyCoda, { logger });
  const release = deferred();
  let ran = false;
  fastify.get('/', async (_request, reply) => {
    reply.after(async () => { await release.promise; ran = true; }, { name: 'slow' });
    return 'ok';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  assert.equal(await (await fetch(urlOf(fastify.server))).text(), 'ok');
  const closed = fastify.close();
  release.resolve();
  await closed;
  assert.equal(ran, true);
  const line = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown complete'));
  assert.equal(line?.tasksCompleted, 1);
  assert.equal(typeof fastify.coda.app.settle, 'function');
});

test('Fastify: the plugin registered twice, at the root or again in an encapsulated context, is refused saying so (in a child it ran a second Coda app, every hook twice)', async () => {
  const refused = /coda-http\/fastify is registered already, on this instance or one it is encapsulated in: register it once, at the root/;
  for (const again of [
    (fastify: ReturnType<typeof Fastify>) => fastify.register(fastifyCoda),
    (fastify: ReturnType<typeof Fastify>) => fastify.register(async (child: ReturnType<typeof Fastify>) => { await child.register(fastifyCoda); }),
  ]) {
    const fastify = Fastify();
    await fastify.register(fastifyCoda);
    await assert.rejects(async () => { await again(fastify); }, refused);
    await fastify.close().catch(() => {});
  }
});

test('one adapter attached to two servers: closing one leaves the other keeping its connections alive, a request in flight there included', async (t) => {
  const handling = deferred();
  const release = deferred();
  const tasks = expressCoda({ logger: memoryLogger().logger });
  const app = express();
  app.use(tasks);
  app.get('/slow', async (_req, res) => {
    handling.resolve();
    await release.promise;
    res.send('slow');
  });
  app.get('/', (_req, res) => { res.send('ok'); });
  const closing = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  const staying = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  t.after(() => staying.close({ timeoutMs: 100 }));
  const url = await listening(staying.server);
  await listening(closing.server);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const get = (path: string): Promise<http.IncomingMessage> => new Promise((resolve, reject) => http.get(`${url}${path}`, { agent }, resolve).on('error', reject));
  const inFlight = get('/slow');
  await handling.promise;
  const closed = closing.close({ timeoutMs: 1_000 });
  release.resolve();
  const slow = await inFlight;
  slow.resume();
  assert.equal(slow.headers.connection, 'keep-alive');
  await closed;
  const later = await get('/');
  later.resume();
  assert.equal(later.headers.connection, 'keep-alive', 'a request after the other server closed');
});

test('Express: a handler that destroys its response once its client has left (as a stream\'s error handler does) has answered: its request is done, its tasks run before the shutdown report', { timeout: 10_000 }, async () => {
  const seen: boolean[] = [];
  const handling = deferred();
  const tasks = expressCoda();
  const app = express();
  app.use(tasks);
  app.get('/', (_req, res) => {
    after(({ outcome }) => { seen.push(outcome.aborted); }, { name: 'noted' });
    res.once('close', () => res.destroy());
    handling.resolve();
  });
  const attached = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  const client = net.connect(Number(new URL(await listening(attached.server)).port), '127.0.0.1');
  client.on('error', () => {});
  client.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await handling.promise;
  client.destroy();
  const report = await attached.close({ timeoutMs: 2_000 });
  assert.deepEqual([seen, report.tasksAbandoned], [[true], []]);
});

test('Express: a handler that destroys its response before writing anything, its client still there (refusing the request): it has answered, its request is done (it stayed in flight for good, taken for a client that left)', { timeout: 10_000 }, async () => {
  const seen: boolean[] = [];
  const tasks = expressCoda();
  const app = express();
  app.use(tasks);
  app.get('/', (_req, res) => {
    after(({ outcome }) => { seen.push(outcome.aborted); }, { name: 'noted' });
    res.destroy();
  });
  const attached = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  await assert.rejects(fetch(await listening(attached.server)));
  const report = await attached.close({ timeoutMs: 2_000 });
  assert.deepEqual([seen, report.requestsInFlightAtClose, report.tasksAbandoned], [[true], 0, []]);
});

/**
 * Each framework with an app whose GET / runs `handle(req, res)`: code of the
 * request that deals with Node's request and response by hand (Fastify's reply
 * hijacked, Koa's `ctx.respond = false`), neither its middleware's promise
 * nor Hono's handler's settling (that would be an answer of its own). Resolves
 * with its URL and its drain.
 */
type ByHand = (req: http.IncomingMessage, res: http.ServerResponse) => void;
const byHandTargets: { name: string; start(handle: ByHand): Promise<{ url: string; close(timeoutMs: number): Promise<ShutdownReport> }> }[] = [
  ...[{ name: 'Express 5', make: express }, { name: 'Express 4', make: express4 as unknown as typeof express }].map(({ name, make }) => ({
    name,
    async start(handle: ByHand) {
      const tasks = expressCoda();
      const app = make();
      app.use(tasks);
      app.get('/', (req, res) => { handle(req, res); });
      const attached = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
      return { url: await listening(attached.server), close: (timeoutMs: number) => attached.close({ timeoutMs }) };
    },
  })),
  {
    name: 'Fastify (a handler of the callback style, its reply hijacked)',
    async start(handle) {
      const fastify = Fastify();
      await fastify.register(fastifyCoda);
      fastify.get('/', (request, reply) => {
        reply.hijack();
        handle(request.raw, reply.raw);
      });
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      return { url: urlOf(fastify.server), close: (timeoutMs) => fastify.coda.close({ timeoutMs }) };
    },
  },
  {
    name: 'Koa',
    async start(handle) {
      const tasks = koaCoda();
      const app = new Koa();
      app.use(tasks);
      app.use((ctx) => {
        ctx.respond = false;
        handle(ctx.req, ctx.res);
      });
      const attached = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
      return { url: await listening(attached.server), close: (timeoutMs) => attached.close({ timeoutMs }) };
    },
  },
  {
    name: 'Hono',
    async start(handle) {
      const tasks = honoCoda();
      const app = new Hono<{ Bindings: HttpBindings }>();
      app.use(tasks);
      app.get('/', (c) => {
        handle(c.env.incoming, c.env.outgoing);
        return new Promise<never>(() => {});
      });
      const attached = tasks.attach(honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server, { handleSignals: false });
      return { url: await listening(attached.server), close: (timeoutMs) => attached.close({ timeoutMs }) };
    },
  },
];

for (const target of byHandTargets) {
  test(`${target.name}: a handler that destroys its request's connection itself (req.socket.destroy(), its client still there) has answered: its request is done, its task runs, the shutdown waits for nothing (it stayed in flight until the deadline, taken for a client that left)`, { timeout: 10_000 }, async () => {
    const seen: boolean[] = [];
    const running = await target.start((req) => {
      after(({ outcome }) => { seen.push(outcome.aborted); }, { name: 'noted' });
      req.socket.destroy();
    });
    await assert.rejects(fetch(running.url));
    const report = await running.close(5_000);
    assert.deepEqual([seen, report.requestsInFlightAtClose, report.tasksAbandoned], [[true], 0, []]);
  });

  test(`${target.name}: a handler that pipes a stream to its response (source.pipe(res), pipeline(source, res); Fastify's docs/Reference/Reply.md .hijack()), its client gone before the stream's first chunk, has answered: its request is done, its task runs (Node unpipes the stream from a response that closed, nothing is written to it: the request stayed in flight until the shutdown's deadline, its task abandoned)`, { timeout: 10_000 }, async () => {
    const seen: string[] = [];
    let handling = deferred();
    const running = await target.start((req, res) => {
      const how = req.headers['x-pipe'] as string;
      after(({ outcome }) => { seen.push(`${how}: aborted ${outcome.aborted}`); }, { name: how });
      // A source whose first chunk never comes: an upstream still thinking.
      const source = new Readable({ read() {} });
      if (how === 'pipe') source.pipe(res);
      else pipeline(source, res, () => {});
      handling.resolve();
    });
    const { port } = new URL(running.url);
    for (const how of ['pipe', 'pipeline']) {
      handling = deferred();
      const client = net.connect(Number(port), '127.0.0.1');
      client.on('error', () => {});
      client.write(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Pipe: ${how}\r\n\r\n`);
      await handling.promise;
      client.destroy();
    }
    const report = await running.close(2_000);
    assert.deepEqual([seen.sort(), report.tasksAbandoned], [['pipe: aborted true', 'pipeline: aborted true'], []]);
  });
}

test("Express: a handler that arms req.setTimeout(ms) without a callback, its connection then destroyed by Node at that timeout (from a timer set in the request's context) while it still works, has not answered: its request stays in flight, shutdown waits for it, its tasks run once it ends its response (that destroy was taken for its answer: the request was done while its handler worked)", { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const timedOut = deferred();
  const release = deferred();
  const tasks = expressCoda();
  const app = express();
  app.use(tasks);
  app.get('/', async (req, res) => {
    req.setTimeout(50);
    after(({ outcome }) => { seen.push(`before: aborted ${outcome.aborted}`); });
    req.socket.once('close', () => timedOut.resolve());
    await release.promise;
    after(({ outcome }) => { seen.push(`after: aborted ${outcome.aborted}`); });
    res.end('late');
  });
  const attached = tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  await assert.rejects(fetch(await listening(attached.server)));
  await timedOut.promise;
  const closing = attached.close({ timeoutMs: 5_000 });
  release.resolve();
  const report = await closing;
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksAbandoned, seen], [1, [], ['before: aborted true', 'after: aborted true']]);
});

/** Express, Koa and Hono on @hono/node-server: an app whose GET / registers a task that waits for `release`, and its server, attach()ed. */
const ownCloseTargets: { name: string; start(task: () => Promise<void>, logger: ReturnType<typeof memoryLogger>['logger']): Server }[] = [
  {
    name: 'Express',
    start(task, logger) {
      const tasks = expressCoda({ logger });
      const app = express();
      app.use(tasks);
      app.get('/', (_req, res) => { after(task, { name: 'slow' }); res.send('ok'); });
      return tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false }).server;
    },
  },
  {
    name: 'Koa',
    start(task, logger) {
      const tasks = koaCoda({ logger });
      const app = new Koa();
      app.use(tasks);
      app.use((ctx) => { after(task, { name: 'slow' }); ctx.body = 'ok'; });
      return tasks.attach(app.listen(0, '127.0.0.1'), { handleSignals: false }).server;
    },
  },
  {
    name: 'Hono',
    start(task, logger) {
      const tasks = honoCoda({ logger });
      const app = new Hono();
      app.use(tasks);
      app.get('/', (c) => { after(task, { name: 'slow' }); return c.text('ok'); });
      return tasks.attach(honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server, { handleSignals: false }).server;
    },
  },
];

for (const target of ownCloseTargets) {
  test(`${target.name}: the server's own server.close() drains: its callback comes after the pending task ran, and the report is logged; a second close() calls back with ERR_SERVER_NOT_RUNNING, as Node's`, async () => {
    const { logger, lines } = memoryLogger();
    const release = deferred();
    let closedFirst: boolean | undefined;
    let closed = false;
    const server = target.start(async () => {
      await release.promise;
      closedFirst = closed;
    }, logger);
    assert.equal(await (await fetch(await listening(server))).text(), 'ok');
    const done = new Promise<Error | undefined>((resolve) => server.close(resolve));
    void done.then(() => { closed = true; });
    release.resolve();
    assert.equal(await done, undefined);
    assert.equal(closedFirst, false, 'the task ran before close() called back');
    assert.equal(server.listening, false);
    const line = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown complete'));
    assert.equal(line?.tasksCompleted, 1);
    const again = await new Promise<Error | undefined>((resolve) => server.close(resolve));
    assert.deepEqual([(again as NodeJS.ErrnoException | undefined)?.code, again?.message], ['ERR_SERVER_NOT_RUNNING', 'Server is not running.']);
  });
}

/** A client session to `server` (node:http2's, once listening) attached to `tasks`: both closed when the test ends. */
async function attachedSession(t: TestContext, tasks: Adapter, server: Http2Server): Promise<http2.ClientHttp2Session> {
  if (!server.listening) await once(server, 'listening');
  // Typed for node:http2's servers too: no cast, and the attached server is the one given.
  const attached = tasks.attach(server, { handleSignals: false });
  const same: Http2Server = attached.server;
  assert.equal(same, server);
  t.after(() => attached.close({ timeoutMs: 100 }));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => session.close());
  return session;
}

/**
 * A framework on a node:http2 server without TLS (h2c), its handler answering
 * with what `handle()` resolves to: chunks to stream, or nothing ('ok').
 * Express cannot serve HTTP/2 at all (its request is node:http's).
 */
type Http2Handle = () => Promise<AsyncIterable<Uint8Array> | void>;
const http2Targets: { name: string; coda: () => Adapter; start(coda: Adapter, handle: Http2Handle): Http2Server }[] = [
  {
    name: 'Koa (http2.createServer(app.callback()))',
    coda: koaCoda,
    start(tasks, handle) {
      const app = new Koa();
      app.silent = true;
      app.use(tasks as KoaCoda);
      app.use(async (ctx) => {
        const chunks = await handle();
        ctx.body = chunks === undefined ? 'ok' : Readable.from(chunks);
      });
      return http2.createServer(app.callback()).listen(0, '127.0.0.1');
    },
  },
  {
    name: "Hono (@hono/node-server's createServer: http2.createServer)",
    coda: honoCoda,
    start(tasks, handle) {
      const app = new Hono();
      app.use(tasks as HonoCoda);
      app.get('/', async (c) => {
        const chunks = await handle();
        return chunks === undefined ? c.text('ok') : c.body(ReadableStream.from(chunks) as ReadableStream<Uint8Array>);
      });
      return honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer: http2.createServer }) as Http2Server;
    },
  },
];

for (const target of http2Targets) {
  test(`${target.name}: attach().close() of an HTTP/2 server drains and reports (it threw 'server.closeIdleConnections is not a function', the tasks not drained): every session gets a GOAWAY, a stream in flight is still answered whole`, { timeout: 10_000 }, async () => {
    const handling = deferred();
    const release = deferred();
    let requests = 0;
    const tasks = target.coda();
    const server = target.start(tasks, async () => {
      after(() => {}, { name: 'audit' });
      if (++requests === 2) {
        handling.resolve();
        await release.promise;
      }
    });
    await once(server, 'listening');
    const attached = tasks.attach(server, { handleSignals: false });
    const { goaways, body } = await idleAndBusy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/', handling.promise);
    const closing = attached.close({ timeoutMs: 5_000 });
    await goaways;
    release.resolve();
    assert.equal(await body, 'ok');
    const report = await closing;
    assert.deepEqual([report.requestsInFlightAtClose, report.tasksCompleted, report.tasksAbandoned], [1, 2, []]);
    assert.equal(server.listening, false);
  });
}

for (const target of http2Targets) {
  test(`${target.name}: a stream that fails mid-way is outcome.error (it said aborted only: an HTTP/2 response keeps no error, its stream does); one its client resets mid-way (with any error code) is aborted with none`, { timeout: 10_000 }, async (t) => {
    const failure = new Error('the source broke');
    const outcomes: Outcome[] = [];
    let requests = 0;
    const tasks = target.coda();
    const server = target.start(tasks, async () => {
      after(({ outcome }) => { outcomes.push(outcome); });
      const broken = ++requests === 1;
      return (async function* () {
        for (let i = 0; i < 10_000; i++) {
          yield Buffer.alloc(16 * 1024, i);
          if (broken) throw failure;
        }
      })();
    });
    const session = await attachedSession(t, tasks, server);
    const broken = session.request({ ':path': '/' });
    broken.on('error', () => {});
    broken.resume();
    await new Promise((resolve) => broken.once('close', resolve));
    assert.equal(broken.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
    // Whatever code the client resets with (Node's client says INTERNAL_ERROR for req.destroy(error)): Node gives the stream an
    // ERR_HTTP2_STREAM_ERROR for any but CANCEL, the client's doing, not a failure of the response.
    for (const code of [http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_INTERNAL_ERROR, http2.constants.NGHTTP2_REFUSED_STREAM]) {
      const reset = session.request({ ':path': '/' });
      reset.on('error', () => {});
      await once(reset, 'data');
      reset.close(code);
    }
    await tasks.app.settle();
    assert.deepEqual(outcomes.map(({ aborted, error }) => [aborted, error]), [[true, failure], [true, undefined], [true, undefined], [true, undefined]]);
  });
}

test('an adapter writes no access log line of its own: the framework logs its requests', async () => {
  const { logger, lines } = memoryLogger();
  const tasks = expressCoda({ logger });
  const app = express();
  app.use(tasks);
  app.get('/x', (_req, res) => {
    after(() => {}, { name: 'noted' });
    res.send('ok');
  });
  const server = app.listen(0, '127.0.0.1');
  try {
    assert.equal(await (await fetch(`${await listening(server)}/x`)).text(), 'ok');
    await tasks.app.settle();
    assert.equal(tasks.app.afterStats().completed, 1);
    assert.deepEqual(lines.filter((line) => line.durationMs !== undefined), []);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('Express not attached: pipelined responses still queued behind another when their connection dies are finished with it (Node 22 emits no close for them): every task runs, nothing stays in flight', { timeout: 10_000 }, async (t) => {
  const outcomes = new Map<string, boolean>();
  const handling = deferred();
  const slowRan = deferred();
  const app = express();
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/:name', (req, res) => {
    const name = req.params.name!;
    after(({ outcome }) => {
      outcomes.set(name, outcome.aborted);
      if (name === 'slow') slowRan.resolve();
    });
    if (name !== 'slow') {
      res.send('ok');
      return;
    }
    // The slow one answers once its connection is gone: the two behind it, answered already, are still queued (no socket) then.
    res.once('close', () => res.send('too late'));
    handling.resolve();
  });
  // Not attached: no pipelining hold, so Node hands the three requests to Express at once.
  const server = app.listen(0, '127.0.0.1');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = new URL(await listening(server));
  const client = net.connect(Number(port), '127.0.0.1');
  client.on('error', () => {});
  client.write(['slow', 'fast1', 'fast2'].map((name) => `GET /${name} HTTP/1.1\r\nHost: localhost\r\n\r\n`).join(''));
  await handling.promise;
  assert.equal(tasks.app.requestsInFlight, 3, 'the two behind the slow one were handled while it worked');
  client.destroy();
  await slowRan.promise;
  assert.equal(tasks.app.requestsInFlight, 0, 'the queued responses finished with their connection');
  await tasks.app.settle();
  assert.deepEqual([...outcomes.keys()].sort(), ['fast1', 'fast2', 'slow']);
});

test("Koa: a streamed body cut short by the 503 Coda sends when the store refuses the durable task: the app's 'error' listener sees the store's refusal, not a premature close", { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-koa-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const noted = task('noted', () => {});
  const more = deferred();
  const app = new Koa();
  const tasks = koaCoda({ tasks: { definitions: [noted], store: sqliteStore({ path: file, busyTimeoutMs: 50 }) }, logger: memoryLogger().logger });
  app.use(tasks);
  app.use((ctx) => {
    void after(noted, {});
    // Still streaming when the refusal goes out: Koa's pipeline sees its response end first.
    ctx.body = Readable.from((async function* () {
      yield Buffer.from('partial');
      await more.promise;
      yield Buffer.from('rest');
    })());
  });
  const reported = once(app, 'error') as Promise<[Error]>;
  const server = app.listen(0, '127.0.0.1');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const url = await listening(server);
  await tasks.app.tasks.stats(); // opened: the schema exists before the lock
  const locker = new DatabaseSync(file);
  t.after(() => locker.close());
  locker.exec('BEGIN EXCLUSIVE');
  const res = await fetch(url);
  assert.equal(res.status, 503);
  await res.text();
  more.resolve();
  const [error] = await reported;
  assert.deepEqual([error.name, error.message.includes(file)], ['StoreUnavailable', true], error.message);
  locker.exec('ROLLBACK');
});

for (const target of [targets.koa!, targets.hono!]) {
  test(`${target.name}: a non-Error (a string, an object) thrown once the head is out: the cut carries an Error naming it (Koa's words), what was written arrives, the client sees it fail`, { timeout: 10_000 }, async (t) => {
    for (const thrown of ['a string', { code: 1 }]) {
      const seen = deferred<Outcome>();
      const running = await target.start([{
        path: '/late',
        handle(onResponse) {
          onResponse(({ outcome }) => { seen.resolve(outcome); });
          return { partial: 'partial', failure: thrown as unknown as Error };
        },
      }], { logger: memoryLogger().logger });
      t.after(() => running.close(100));
      const received: string[] = [];
      await assert.rejects(async () => {
        for await (const chunk of await open(`${running.url}/late`)) received.push(String(chunk));
      }, 'the client sees the response fail, not end');
      assert.equal(received.join(''), 'partial');
      const { error } = await seen.promise;
      assert.ok(error instanceof Error, `outcome.error is an Error, not ${JSON.stringify(error)}`);
      assert.deepEqual([error.message, error.cause], [`non-error thrown: ${JSON.stringify(thrown)}`, thrown]);
    }
  });
}

test("Hono on @hono/node-server: a cut once the head is out (onError's answer, a thrown non-Error Hono lets out) prints nothing (@hono/node-server wrote the head of its 500 to the response cut, and printed Node's ERR_HTTP_HEADERS_SENT with its stack)", { timeout: 10_000 }, async (t) => {
  const printing = [t.mock.method(console, 'error', () => {}), t.mock.method(console, 'info', () => {})];
  const outcomes: Outcome[] = [];
  const app = new Hono<{ Bindings: HttpBindings }>();
  const tasks = honoCoda({ logger: memoryLogger().logger });
  app.use(tasks);
  // Hono's default onError prints the error: the app's own says nothing.
  app.onError((_error, c) => c.text('failed', 500));
  for (const [path, thrown] of [['/error', new Error('late')], ['/non-error', 'late']] as const) {
    app.get(path, async (c) => {
      c.after(({ outcome }) => { outcomes.push(outcome); });
      c.env.outgoing.write('partial');
      await null;
      throw thrown;
    });
  }
  app.get('/ping', (c) => c.text('pong'));
  const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const url = await listening(server);
  t.after(() => tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 100 }));
  for (const path of ['/error', '/non-error']) {
    await assert.rejects(async () => {
      for await (const _chunk of await open(`${url}${path}`));
    }, `${path}: the client sees the response fail`);
  }
  await tasks.app.settle();
  assert.deepEqual(outcomes.map(({ aborted, error }) => [aborted, (error as Error).message]), [[true, 'late'], [true, 'non-error thrown: "late"']]);
  // A round trip on another request: @hono/node-server's writing after each cut is done.
  assert.equal(await (await fetch(`${url}/ping`)).text(), 'pong');
  assert.deepEqual(printing.flatMap((mock) => mock.mock.calls.map((call) => call.arguments)), []);
});

test("Hono on an HTTP/2 server: an error once the head is out resets the stream; its outcome is aborted with the error, its bytes what went out (it said completed, and counted the text @hono/node-server ends the response with after the cut: a stream closed has no session to show it came over the network)", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const failure = new Error('late');
  const app = new Hono<{ Bindings: HttpBindings }>();
  const tasks = honoCoda({ logger: memoryLogger().logger });
  app.use(tasks);
  app.onError((_error, c) => c.text('failed', 500));
  app.get('/late', async (c) => {
    c.after(({ outcome }) => { seen.resolve(outcome); });
    c.env.outgoing.write('partial');
    await null;
    throw failure;
  });
  const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer: http2.createServer }) as Http2Server;
  const session = await attachedSession(t, tasks, server);
  const stream = session.request({ ':path': '/late' });
  let received = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => { received += chunk; });
  const [error] = await once(stream, 'error') as [NodeJS.ErrnoException];
  assert.deepEqual([error.code, received], ['ERR_HTTP2_STREAM_ERROR', 'partial']);
  const outcome = await seen.promise;
  assert.deepEqual([outcome.completed, outcome.aborted, outcome.error, outcome.bytesSent], [false, true, failure, 7]);
});

test("Express: a request without req.app (a bare express.Router() on node:http) after the adapter had seen an app's: answered, its task runs (the error handler went to a WeakSet as undefined: a TypeError)", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const tasks = expressCoda();
  const route = (where: string) => (_req: express.Request, res: express.Response): void => {
    after(({ outcome }) => { seen.push(`${where} ${outcome.status}`); });
    res.end(where);
  };
  const app = express();
  app.use(tasks);
  app.get('/', route('app'));
  const router = express.Router();
  router.use(tasks);
  router.get('/', route('router'));
  const servers = [app.listen(0, '127.0.0.1'), http.createServer((req, res) => {
    router(req as express.Request, res as express.Response, (error?: unknown) => {
      res.statusCode = error === undefined ? 404 : 500;
      res.end(String(error ?? 'not found'));
    });
  }).listen(0, '127.0.0.1')];
  t.after(() => Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))));
  const answers = [];
  for (const server of servers) {
    const res = await fetch(await listening(server));
    answers.push(`${res.status} ${await res.text()}`);
  }
  assert.deepEqual(answers, ['200 app', '200 router']);
  await tasks.app.settle();
  assert.deepEqual(seen, ['app 200', 'router 200']);
});

for (const [name, createApp] of [['Express', express], ['Express 4', express4]] as const) {
  test(`${name}: a route added after the first request (the error noting was at the end of the chain then): an error it gives next() once its head is out is outcome.error`, { timeout: 10_000 }, async (t) => {
    const failure = new Error('failed after the head');
    const seen = deferred<Outcome>();
    const app = createApp();
    app.set('env', 'test');
    const tasks = expressCoda();
    app.use(tasks);
    app.get('/first', (_req, res) => { res.send('first'); });
    const server = app.listen(0, '127.0.0.1');
    t.after(() => tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 100 }));
    const url = await listening(server);
    assert.equal(await (await fetch(`${url}/first`)).text(), 'first');
    app.get('/late', (_req, res, next) => {
      res.after(({ outcome }) => { seen.resolve(outcome); });
      res.write('partial');
      next(failure);
    });
    await assert.rejects(async () => {
      for await (const _chunk of await open(`${url}/late`)) { /* read to the failure */ }
    }, 'the client sees the response fail');
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.error], [true, failure]);
  });
}

test("Koa: an error once the head is out whose app 'error' listener throws: the response is cut all the same (it was left open for good), with the error", { timeout: 15_000 }, async () => {
  assert.deepEqual(await printed('koa-throwing-listener.mjs'), {
    received: 'partial', failed: true, error: 'Error: failed after the head', rejections: ['the listener failed'],
  });
});

test("Koa: an error once the head is out reaches the app's 'error' listeners once (Koa reported it again as the response the adapter cut closed with it)", { timeout: 10_000 }, async (t) => {
  const reported: string[] = [];
  const seen = deferred<Outcome>();
  const app = new Koa();
  app.on('error', (error: Error) => { reported.push(error.message); });
  const tasks = koaCoda();
  app.use(tasks);
  app.use(async (ctx) => {
    ctx.after(({ outcome }) => { seen.resolve(outcome); });
    ctx.res.write('partial');
    await Promise.resolve();
    throw new Error('failed after the head');
  });
  const server = app.listen(0, '127.0.0.1');
  t.after(() => tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 100 }));
  await assert.rejects(async () => {
    for await (const _chunk of await open(await listening(server))) { /* read to the failure */ }
  }, 'the client sees the response fail');
  // The task starts once the response has closed: Koa's second report came before, as the socket failed.
  assert.equal(String((await seen.promise).error), 'Error: failed after the head');
  assert.deepEqual(reported, ['failed after the head']);
});
