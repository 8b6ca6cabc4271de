/**
 * A response held back for its durable tasks (first-byte-gate.ts) refuses a
 * second answer as Node refuses it once the head is out: the handler, not
 * the replay, meets the refusal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type Server } from 'node:http';
import http2, { type Http2Server, type Http2ServerResponse } from 'node:http2';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Koa from 'koa';
import { sqliteStore, task, type Outcome, type TaskStore } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as koaCoda } from 'coda-http/koa';
import { deferred } from '../helpers.js';

const held = task('held', () => {});

function store(t: TestContext): TaskStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-gate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return sqliteStore({ path: path.join(dir, 'tasks.db') });
}

/** `inner`, its journal's `add` replaced by `add`. */
function withAdd(inner: TaskStore, add: TaskStore['add']): TaskStore {
  return new Proxy(inner, {
    get(target, name, receiver) {
      if (name === 'add') return add;
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** `inner`, its journal answering only once `released` resolves (the tasks are in the store by then): the response stays held until the test lets it go. */
function heldStore(inner: TaskStore, released: Promise<void>): TaskStore {
  return withAdd(inner, async (...args) => {
    const added = await inner.add(...args);
    await released;
    return added;
  });
}

/**
 * An Express app on a real socket whose route registers the durable task,
 * tells the tasks' outcome to `seen`, then answers with `answer`; `onError`
 * its error handler, if any. Coda's shutdown closes it.
 */
function expressServer(t: TestContext, createApp: typeof express, taskStore: TaskStore, seen: (outcome: Outcome) => void, answer: express.RequestHandler, onError?: express.ErrorRequestHandler): Server {
  const app = createApp();
  app.set('env', 'test');
  const coda = expressCoda({ tasks: { definitions: [held], store: taskStore } });
  app.use(coda);
  app.get('/', (req, res, next) => {
    void res.after(held, {});
    res.after(({ outcome }) => { seen(outcome); });
    return answer(req, res, next);
  });
  if (onError !== undefined) app.use(onError);
  const server = app.listen(0, '127.0.0.1');
  const { close } = coda.attach(server, { handleSignals: false });
  t.after(() => close());
  return server;
}

/** As expressServer, for Koa: `app` given for the test to listen to its errors. */
function koaServer(t: TestContext, taskStore: TaskStore, seen: (outcome: Outcome) => void, answer: Koa.Middleware, app = new Koa()): Server {
  const coda = koaCoda({ tasks: { definitions: [held], store: taskStore } });
  app.use(coda);
  app.use((ctx, next) => {
    void ctx.after(held, {});
    ctx.after(({ outcome }) => { seen(outcome); });
    return answer(ctx, next);
  });
  const server = app.listen(0, '127.0.0.1');
  const { close } = coda.attach(server, { handleSignals: false });
  t.after(() => close());
  return server;
}

/** The response as it came: status, Content-Length and body (a Content-Length longer than the body would leave it hanging). */
async function get(server: Server): Promise<[number | undefined, string | undefined, string]> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve([res.statusCode, res.headers['content-length'], body])).on('error', reject);
    }).on('error', reject);
  });
}

/** The outcome the response's tasks see, as the numbers that tell it: completed, bytes sent, error. */
function noted(outcome: Outcome): [boolean, number, unknown] {
  return [outcome.completed, outcome.bytesSent, outcome.error];
}

const expresses = [['Express', express], ['Express 4', express4 as unknown as typeof express]] as const;

for (const [name, createApp] of expresses) {
  test(`${name}: res.send() twice while a durable task holds the response: the second is refused in the handler, as Node refuses it (it was queued, replayed after the first and threw ERR_HTTP_HEADERS_SENT out of the replay: the process crashed); Express's final handler destroys the connection, and the first still goes out whole, as without the task (the connection was reset, the tasks saw it aborted, 5 bytes sent)`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const refused = deferred<unknown>();
    const server = expressServer(t, createApp, store(t), seen.resolve, (_req, res) => {
      res.send('first');
      res.send('second!');
    }, (error: NodeJS.ErrnoException, _req, _res, next) => {
      refused.resolve(error.code);
      next(error);
    });
    assert.deepEqual(await get(server), [200, '5', 'first']);
    assert.equal(await refused.promise, 'ERR_HTTP_HEADERS_SENT');
    assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
  });

  test(`${name}: res.send() twice while a durable task holds the response, and the store refuses the task: the 503 that names the store goes out whole before Express's final handler's destroy (the connection was reset)`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const failing = withAdd(store(t), () => Promise.reject(new Error('the disk is full')));
    const server = expressServer(t, createApp, failing, seen.resolve, (_req, res) => {
      res.send('first');
      res.send('second!');
    });
    const [status, , body] = await get(server);
    assert.equal(status, 503);
    assert.match(body, /could not be journaled/);
    const outcome = await seen.promise;
    assert.deepEqual([outcome.status, outcome.completed, outcome.bytesSent > 0], [503, true, true]);
  });

  test(`${name}: an error handler's res.status(500) after res.send() while a durable task holds the response: the head goes out with the first answer's status, as without the task (the held head was replayed as a 500)`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const server = expressServer(t, createApp, store(t), seen.resolve, (_req, res) => {
      res.send('first');
      throw new Error('late');
    }, (_error, _req, res, _next) => {
      res.status(500);
      if (!res.headersSent) res.send('failed');
    });
    assert.deepEqual(await get(server), [200, '5', 'first']);
    const outcome = await seen.promise;
    assert.deepEqual([outcome.status, ...noted(outcome)], [200, true, 5, undefined]);
  });
}

test("Koa: the connection destroyed by hand after ctx.res.end() while a durable task holds the response: the answer still goes out whole, as without the task (the connection was reset)", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const server = koaServer(t, store(t), seen.resolve, (ctx) => {
    ctx.res.end('first');
    ctx.req.socket.destroy();
  });
  assert.deepEqual(await get(server), [404, '5', 'first']);
  assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
});

test("Koa: ctx.res.end() by hand, then a body set, while a durable task holds the response: Koa sees the response ended and sends nothing more, as without the task (it wrote the body's head and bytes behind the first: a write after end)", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const errors: unknown[] = [];
  const app = new Koa();
  app.on('error', (error) => { errors.push(error); });
  const server = koaServer(t, store(t), seen.resolve, (ctx) => {
    ctx.res.end('first');
    ctx.body = 'second!';
  }, app);
  // Koa's status until a body is set: the head ctx.res.end() wrote, as without the task.
  assert.deepEqual(await get(server), [404, '5', 'first']);
  assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
  assert.deepEqual(errors, []);
});

test("Fastify: reply.send() twice while a durable task holds the reply: the second is refused as a reply already sent, as without the task; the first goes out whole", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const fastify = Fastify();
  await fastify.register(fastifyCoda, { tasks: { definitions: [held], store: store(t) } });
  fastify.get('/', (_request, reply) => {
    void reply.after(held, {});
    reply.after(({ outcome }) => { seen.resolve(outcome); });
    reply.send('first');
    reply.send('second!');
  });
  t.after(() => fastify.close());
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  assert.deepEqual(await get(fastify.server), [200, '5', 'first']);
  assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
});

/** What a framework is told for the case below: the tasks, and what to tell the test (the request's connection once answered, the outcome). */
type Answering = { tasks: { definitions: [typeof held]; store: TaskStore }; answered: (socket: Socket) => void; seen: (outcome: Outcome) => void };
type Serve = (t: TestContext, with_: Answering) => Promise<Server>;

/** A server that answers 'first' with a durable task, per framework; Coda's shutdown closes it. */
const answering: [string, Serve][] = [
  ...expresses.map(([name, createApp]): [string, Serve] => [name, async (t, { tasks, answered, seen }) => expressServer(t, createApp, tasks.store, seen, (req, res) => {
    res.send('first');
    answered(req.socket);
  })]),
  // By hand: Koa's own answer comes after, and sends nothing to a connection no longer writable.
  ['Koa', async (t, { tasks, answered, seen }) => koaServer(t, tasks.store, seen, (ctx) => {
    ctx.res.end('first');
    answered(ctx.req.socket);
  })],
  ['Fastify', async (t, { tasks, answered, seen }) => {
    const fastify = Fastify();
    await fastify.register(fastifyCoda, { tasks });
    fastify.get('/', (request, reply) => {
      void reply.after(held, {});
      reply.after(({ outcome }) => { seen(outcome); });
      reply.send('first');
      answered(request.raw.socket);
    });
    t.after(() => fastify.close());
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return fastify.server;
  }],
];

for (const [name, serve] of answering) {
  test(`${name}: the connection destroyed from outside the request while a durable task holds its answer: the tasks see no byte sent (the answer replayed to the destroyed connection counted its 5 bytes, though none reached the client)`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const answered = deferred<Socket>();
    const released = deferred();
    const tasks = { definitions: [held] as [typeof held], store: heldStore(store(t), released.promise) };
    const server = await serve(t, { tasks, answered: answered.resolve, seen: seen.resolve });
    const response = get(server);
    (await answered.promise).destroy();
    // At once: the journal answers before the destroyed connection's 'close' reaches the response.
    released.resolve();
    await assert.rejects(response, { code: 'ECONNRESET' });
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.bytesSent, outcome.error], [true, 0, undefined]);
  });
}

/** Answers 'first', then destroys the response by hand, per framework: plain node:http sends what end() wrote before the destroy. */
const destroying: [string, (t: TestContext, taskStore: TaskStore, seen: (outcome: Outcome) => void) => Promise<Server>][] = [
  ...expresses.map(([name, createApp]): [string, (t: TestContext, taskStore: TaskStore, seen: (outcome: Outcome) => void) => Promise<Server>] => [name, async (t, taskStore, seen) => expressServer(t, createApp, taskStore, seen, (_req, res) => {
    res.send('first');
    res.destroy();
  })]),
  ['Koa', async (t, taskStore, seen) => koaServer(t, taskStore, seen, (ctx) => {
    ctx.res.end('first');
    ctx.res.destroy();
  })],
];

for (const [name, serve] of destroying) {
  test(`${name}: res.destroy() by hand after the answer while a durable task holds the response: the answer still goes out whole, as plain node:http sends it (the held answer was never sent, and the connection was left open: the client waited for good)`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const server = await serve(t, store(t), seen.resolve);
    assert.deepEqual(await get(server), [name === 'Koa' ? 404 : 200, '5', 'first']);
    assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
  });
}

/** Everything `server` sent for a GET of `/` on a fresh connection, until it closed the connection. */
async function rawExchange(server: Server): Promise<string> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  socket.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
  socket.setEncoding('utf8');
  let text = '';
  socket.on('data', (chunk: string) => { text += chunk; });
  await once(socket, 'close');
  return text;
}

/** A raw response's status line and body (chunked, as sent), without the headers between. */
function statusAndBody(raw: string): [string, string] {
  const [head = '', ...body] = raw.split('\r\n\r\n');
  return [head.split('\r\n')[0]!, body.join('\r\n\r\n')];
}

/** Writes part of a body, then destroys the response a turn later (a stream that failed mid-way); `destroyed` told once it did. */
function writesThenDestroys(res: http.ServerResponse, destroyed: () => void): void {
  res.write('part');
  setImmediate(() => {
    res.destroy();
    destroyed();
  });
}

type Cutting = (t: TestContext, taskStore: TaskStore, seen: (outcome: Outcome) => void, destroyed: () => void) => Promise<Server>;

/** Serves `writesThenDestroys` per framework, a durable task registered first. */
const cutting: [string, Cutting][] = [
  ...expresses.map(([name, createApp]): [string, Cutting] => [name, async (t, taskStore, seen, destroyed) => expressServer(t, createApp, taskStore, seen, (_req, res) => {
    writesThenDestroys(res, destroyed);
  })]),
  // Koa answers once the middleware's promise settles: to a destroyed response, nothing (its 404 was sent after the part).
  ['Koa', async (t, taskStore, seen, destroyed) => koaServer(t, taskStore, seen, (ctx) => new Promise<void>((resolve) => {
    writesThenDestroys(ctx.res, () => {
      destroyed();
      resolve();
    });
  }))],
];

for (const [name, serve] of cutting) {
  test(`${name}: res.write() then res.destroy() while a durable task holds the response: the head and the part written go out before the connection closes, as plain node:http sends them (nothing was sent)`, { timeout: 10_000 }, async (t) => {
    const plain = http.createServer((_req, res) => writesThenDestroys(res, () => {})).listen(0, '127.0.0.1');
    t.after(() => plain.close());
    const [, plainBody] = statusAndBody(await rawExchange(plain));
    assert.equal(plainBody, '4\r\npart\r\n');
    const seen = deferred<Outcome>();
    const destroyed = deferred();
    const released = deferred();
    const server = await serve(t, heldStore(store(t), released.promise), seen.resolve, destroyed.resolve);
    const response = rawExchange(server);
    await destroyed.promise;
    released.resolve();
    assert.deepEqual(statusAndBody(await response), [`HTTP/1.1 ${name === 'Koa' ? '404 Not Found' : '200 OK'}`, plainBody]);
    const outcome = await seen.promise;
    assert.deepEqual([outcome.completed, outcome.aborted, outcome.bytesSent], [false, true, 4]);
  });
}

/** What a handler reads of the response's state: the flags Express's final handler, on-finished and Koa decide by. */
function state(res: http.ServerResponse): Record<string, boolean> {
  return { headersSent: res.headersSent, writableEnded: res.writableEnded, finished: res.finished, writableFinished: res.writableFinished, destroyed: res.destroyed };
}

/** Each handler reads the state before and after each step it takes. */
const probes: [string, (res: http.ServerResponse) => Record<string, boolean>[]][] = [
  ['res.end(), then res.destroy()', (res) => [state(res), state(res.end('first')), state(res.destroy())]],
  ['res.write(), then res.destroy()', (res) => [state(res), (res.write('part'), state(res)), state(res.destroy())]],
];

for (const [steps, probe] of probes) {
  test(`Express: ${steps} while a durable task holds the response: headersSent, writableEnded, finished, writableFinished and destroyed read as plain node:http's at each step (finished and destroyed said false: on-finished took the ended response for one still writing, a handler the destroyed one for one open)`, { timeout: 10_000 }, async (t) => {
    const read = deferred<Record<string, boolean>[]>();
    const plain = http.createServer((_req, res) => read.resolve(probe(res))).listen(0, '127.0.0.1');
    t.after(() => plain.close());
    await rawExchange(plain);
    const expected = await read.promise;
    const gated = deferred<Record<string, boolean>[]>();
    const seen = deferred<Outcome>();
    const server = expressServer(t, express, store(t), seen.resolve, (_req, res) => gated.resolve(probe(res)));
    await rawExchange(server);
    assert.deepEqual(await gated.promise, expected);
    await seen.promise;
  });
}

/** Over HTTP/2, a handler that answers, then ends its stream by hand: how, what it did before the gate held it, and the call. */
const h2Destroys: [string, string, (res: Http2ServerResponse) => void][] = [
  ['res.destroy()', 'passed before too, held as an HTTP/1 destroy through the socket proxy node:http2 gives', (res) => res.destroy()],
  ['res.stream.close()', 'the stream was closed before its head: the client got no answer', (res) => res.stream.close()],
];

/** A framework on a node:http2 server (h2c) whose route `/` registers the durable task and answers 'first' with `answer`; others wait for `later`. */
const h2Servers: [string, (t: TestContext, taskStore: TaskStore, answer: (res: Http2ServerResponse) => void, later: Promise<void>) => Promise<Http2Server>][] = [
  ['Koa (http2.createServer(app.callback()))', async (t, taskStore, answer, later) => {
    const coda = koaCoda({ tasks: { definitions: [held], store: taskStore } });
    const app = new Koa();
    app.use(coda);
    app.use(async (ctx) => {
      if (ctx.path !== '/') {
        await later;
        ctx.body = 'later';
        return;
      }
      void ctx.after(held, {});
      answer(ctx.res as unknown as Http2ServerResponse);
    });
    const server = http2.createServer(app.callback()).listen(0, '127.0.0.1');
    const { close } = coda.attach(server, { handleSignals: false });
    t.after(() => close());
    await once(server, 'listening');
    return server;
  }],
  ['Fastify (http2: true)', async (t, taskStore, answer, later) => {
    const fastify = Fastify({ http2: true });
    await fastify.register(fastifyCoda, { tasks: { definitions: [held], store: taskStore } });
    fastify.get('/', (_request, reply) => {
      void reply.after(held, {});
      answer(reply.raw);
    });
    fastify.get('/later', async () => {
      await later;
      return 'later';
    });
    t.after(() => fastify.close());
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return fastify.server;
  }],
];

/** A GET of `path` on `session`: its status, body and the code its stream closed with. */
async function h2Get(session: http2.ClientHttp2Session, path: string): Promise<[unknown, string, number | undefined]> {
  const request = session.request({ ':path': path });
  let status: unknown;
  let body = '';
  request.on('response', (headers) => { status = headers[':status']; });
  request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
  request.on('error', () => {});
  await once(request, 'close');
  return [status, body, request.rstCode];
}

for (const [name, serve] of h2Servers) {
  for (const [how, before, destroy] of h2Destroys) {
    test(`${name}: res.end(), then ${how}, while a durable task holds the response: the answer goes out whole and only its stream ends (another on its connection is answered), as plain node:http2 sends it (${before})`, { timeout: 10_000 }, async (t) => {
      const answer = (res: Http2ServerResponse) => {
        res.end('first');
        destroy(res);
      };
      const plain = http2.createServer((_req, res) => answer(res)).listen(0, '127.0.0.1');
      t.after(() => plain.close());
      await once(plain, 'listening');
      const plainSession = http2.connect(`http://127.0.0.1:${(plain.address() as AddressInfo).port}`);
      t.after(() => plainSession.close());
      const expected = await h2Get(plainSession, '/');
      const later = deferred();
      const server = await serve(t, store(t), answer, later.promise);
      const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      t.after(() => session.close());
      const waiting = h2Get(session, '/later');
      const [status, ...rest] = await h2Get(session, '/');
      // Koa's status until a body is set: the head ctx.res.end() wrote, as without the task.
      assert.deepEqual([status, ...rest], [name.startsWith('Koa') ? 404 : 200, ...expected.slice(1)]);
      later.resolve();
      assert.deepEqual(await waiting, [200, 'later', 0]);
    });
  }
}
