// More of the frameworks' own cases about a response's life, ported to their
// adapters with the real frameworks over real sockets (each named after its
// peer case): Koa's respond tests (test/application/respond.test.js: a
// response written to by hand, a stream body for a 204, a stream that fails
// before its first chunk), Fastify's (test/client-timeout.test.js,
// test/skip-reply-send.test.js, test/hooks.test.js onSend and onResponse,
// test/stream.*.test.js, test/async-await.test.js), Express's
// (test/res.json.js) and @hono/node-server's (test/server.test.ts, a body
// stream that fails).
// Each asserts what the tasks see: the outcome is what the client got, the
// task runs once, nothing stays in flight.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import http, { type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import Koa from 'koa';
import { after, type App, type Outcome } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda } from 'coda-http/hono';
import { coda as koaCoda } from 'coda-http/koa';
import { deferred } from '../helpers.js';
import { exchange as exchangeOn } from './raw-client.js';

async function listening(t: TestContext, server: Server): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Sends `data` as it is on a new connection to `url` and resolves with all the server wrote once the connection closed. */
const exchange = (url: string, data: string) => exchangeOn(Number(new URL(url).port), data);

/** A GET that asks for the connection's close: all the server wrote for it. */
const get = (url: string, path = '/') => exchange(url, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);

/** A task registered for every request as it starts (before any body is read), resolving with its outcome. */
function outcomeOfEach(app: App): Promise<Outcome> {
  const seen = deferred<Outcome>();
  app.signals.requestStarted.connect(() => {
    after(({ outcome }) => { seen.resolve(outcome); });
  });
  return seen.promise;
}

const what = ({ status, headersSent, completed, aborted, error, bytesSent, cutOff }: Outcome) => ({ status, headersSent, completed, aborted, error, bytesSent, cutOff });

/** A POST whose body stops short of its Content-Length, the client still there. */
const STALLED = 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"n":';

/** Each framework on a server whose requestTimeout is 300 ms (checked every 50), with its adapter. */
const stalledTargets: Record<string, (t: TestContext) => Promise<{ url: string; app: App }>> = {
  async express(t) {
    const app = express();
    app.set('env', 'test');
    const coda = expressCoda();
    app.use(coda, express.json());
    app.post('/upload', (_req, res) => { res.send('saved'); });
    return { url: await listening(t, http.createServer({ requestTimeout: 300, connectionsCheckingInterval: 50 }, app).listen(0, '127.0.0.1')), app: coda.app };
  },
  async koa(t) {
    const app = new Koa();
    app.silent = true;
    const coda = koaCoda();
    app.use(coda);
    app.use(async (ctx) => {
      for await (const _ of ctx.req);
      ctx.body = 'saved';
    });
    return { url: await listening(t, http.createServer({ requestTimeout: 300, connectionsCheckingInterval: 50 }, app.callback()).listen(0, '127.0.0.1')), app: coda.app };
  },
  async hono(t) {
    // Hono's default onError prints the body's failure (with or without Coda).
    t.mock.method(console, 'error', () => {});
    const app = new Hono();
    const coda = honoCoda();
    app.use(coda);
    app.post('/upload', async (c) => c.text(JSON.stringify(await c.req.json())));
    const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', serverOptions: { requestTimeout: 300, connectionsCheckingInterval: 50 } }) as Server;
    return { url: await listening(t, server), app: coda.app };
  },
  async fastify(t) {
    // Given to the server's constructor too: Node enforces no requestTimeout set on the server after it (Fastify's way) while its headersTimeout (60 s) is longer.
    const fastify = Fastify({ requestTimeout: 300, http: { requestTimeout: 300, connectionsCheckingInterval: 50 } });
    await fastify.register(fastifyCoda);
    fastify.post('/upload', async () => 'saved');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => fastify.close());
    return { url: `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, app: fastify.coda.app };
  },
};

for (const [name, start] of Object.entries(stalledTargets)) {
  test(`${name}: a body that does not arrive within the server's requestTimeout (Fastify's test/client-timeout.test.js 'requestTimeout should return 408', the head whole): the tasks see the 408 the server sent and why (cutOff), as on Coda's own server, not a client that left with the ${name === 'fastify' ? 'status never sent' : 'framework\'s 400 or 500 that never went out'}; nothing stays in flight`, { timeout: 10_000 }, async (t) => {
    const { url, app } = await start(t);
    const seen = outcomeOfEach(app);
    const wire = await exchange(url, STALLED);
    assert.match(wire, /^HTTP\/1\.1 408 /);
    assert.deepEqual(what(await seen), { status: 408, headersSent: true, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: 'the request did not arrive in time' });
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
  });
}

test("Express: a body that does not arrive within the server's requestTimeout once the response's head is out (res.flushHeaders(), then the body read): Node closes the connection without a 408; the tasks see the 200 sent and why it was cut (cutOff), not a client that left", { timeout: 10_000 }, async (t) => {
  const app = express();
  const coda = expressCoda();
  app.use(coda);
  app.post('/upload', (req, res) => {
    res.flushHeaders();
    req.resume();
    req.on('end', () => res.end('saved'));
  });
  const url = await listening(t, http.createServer({ requestTimeout: 300, connectionsCheckingInterval: 50 }, app).listen(0, '127.0.0.1'));
  const seen = outcomeOfEach(coda.app);
  assert.match(await exchange(url, STALLED), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
  assert.deepEqual(what(await seen), { status: 200, headersSent: true, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: 'the request did not arrive in time' });
});

/** A Koa app with the adapter and `handle` as its only other middleware, listening. */
async function koa(t: TestContext, handle: Koa.Middleware): Promise<{ url: string; app: App }> {
  const app = new Koa();
  app.silent = true;
  const coda = koaCoda();
  app.use(coda);
  app.use(handle);
  return { url: await listening(t, app.listen(0, '127.0.0.1')), app: coda.app };
}

test("Koa (test/application/respond.test.js 'when res has already been written to': 'should not cause an app error', 'should send the right body'): a response written to by hand, ended by Koa or by the handler later: the task runs once, complete, with every byte sent", { timeout: 10_000 }, async (t) => {
  const { url, app } = await koa(t, (ctx) => {
    ctx.status = 200;
    ctx.res.setHeader('Content-Type', 'text/html');
    ctx.res.write('Hello');
    if (ctx.path === '/later') return new Promise<void>((resolve) => setImmediate(() => { ctx.res.end('Goodbye'); resolve(); }));
    return undefined;
  });
  const seen: Outcome[] = [];
  app.signals.requestStarted.connect(() => { after(({ outcome }) => { seen.push(outcome); }); });
  assert.match(await get(url, '/'), /\r\n\r\n5\r\nHello\r\n2\r\nOK\r\n0\r\n\r\n$/);
  assert.match(await get(url, '/later'), /\r\n\r\n5\r\nHello\r\n7\r\nGoodbye\r\n0\r\n\r\n$/);
  await app.settle();
  assert.deepEqual(seen.map(what), [7, 12].map((bytesSent) => ({ status: 200, headersSent: true, completed: true, aborted: false, error: undefined, bytesSent, cutOff: undefined })));
});

test("Koa (test/application/respond.test.js 'should handle errors when no content status'): a 204 whose body stream fails (a file that does not exist) once the response is out: the task sees the 204 complete, no outcome.error", { timeout: 10_000 }, async (t) => {
  const { url, app } = await koa(t, (ctx) => {
    ctx.status = 204;
    ctx.body = createReadStream('/does/not/exist');
  });
  const seen = outcomeOfEach(app);
  assert.match(await get(url), /^HTTP\/1\.1 204 /);
  assert.deepEqual(what(await seen), { status: 204, headersSent: true, completed: true, aborted: false, error: undefined, bytesSent: 0, cutOff: undefined });
});

test("Koa (test/application/respond.test.js 'should handle stream errors when error listener exists'): a body stream that fails before its first chunk: Koa's pipeline() destroys the response before its head, the client gets nothing; the task sees no head sent and the stream's error; nothing stays in flight", { timeout: 10_000 }, async (t) => {
  const failure = new Error('stream error');
  const { url, app } = await koa(t, (ctx) => {
    const stream = new PassThrough();
    ctx.body = stream;
    setImmediate(() => stream.emit('error', failure));
  });
  const seen = outcomeOfEach(app);
  assert.equal(await get(url), '');
  const outcome = await seen;
  assert.deepEqual([outcome.headersSent, outcome.completed, outcome.aborted, outcome.error, outcome.bytesSent], [false, false, true, failure, 0]);
  await app.settle();
  assert.equal(app.requestsInFlight, 0);
});

test("Fastify (test/skip-reply-send.test.js 'skip automatic reply.send() with reply.hijack and an error', test/async-await.test.js, test/hooks.test.js onSend and onResponse, test/stream.*.test.js): the tasks see what the client got, once each", { timeout: 10_000 }, async (t) => {
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/hijacked-rejects', (_req, reply) => {
    reply.hijack();
    reply.raw.end('hello world');
    return Promise.reject(new Error('kaboom'));
  });
  // A reply sent, then a value returned: Fastify warns and sends nothing more.
  fastify.get('/sent-then-returned', async (_req, reply) => {
    void reply.send('a');
    return 'b';
  });
  fastify.get('/on-send-throws', { onSend: async () => { throw new Error('onSend boom'); } }, async () => 'x');
  fastify.get('/on-response-throws', { onResponse: async () => { throw new Error('onResponse boom'); } }, async () => 'x');
  // A stream that fails before its first chunk: Fastify answers its error as a 500.
  fastify.get('/stream-fails-first', async (_req, reply) => {
    const stream = new PassThrough();
    setImmediate(() => stream.destroy(new Error('early')));
    return reply.send(stream);
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  const seen = new Map<string, Outcome[]>();
  fastify.coda.app.signals.requestStarted.connect(({ request }) => {
    after(({ outcome }) => { seen.set(request.path, [...seen.get(request.path) ?? [], outcome]); });
  });
  const url = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  const paths = ['/hijacked-rejects', '/sent-then-returned', '/on-send-throws', '/on-response-throws', '/stream-fails-first'];
  const wires = [];
  for (const path of paths) wires.push((await get(url, path)).split('\r\n', 1)[0]);
  assert.deepEqual(wires, ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 200 OK', 'HTTP/1.1 500 Internal Server Error']);
  await fastify.coda.app.settle();
  const outcomes = paths.map((path) => seen.get(path)!.map(({ status, completed, error }) => ({ status, completed, error })));
  assert.deepEqual(outcomes, [200, 200, 500, 200, 500].map((status) => [{ status, completed: true, error: undefined }]));
});

test("@hono/node-server (test/server.test.ts '/error-stream', a ReadableStream that errors), before its first chunk, once the head is out: the task sees the head sent, no body byte, the stream's error", { timeout: 10_000 }, async (t) => {
  const failure = new Error('early');
  const app = new Hono();
  const coda = honoCoda();
  app.use(coda);
  app.get('/', () => new Response(new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setImmediate(resolve));
      controller.error(failure);
    },
  })));
  // @hono/node-server prints the failure of a Response's stream (with or without Coda).
  t.mock.method(console, 'error', () => {});
  const url = await listening(t, honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  const seen = outcomeOfEach(coda.app);
  assert.match(await get(url), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
  assert.deepEqual(what(await seen), { status: 200, headersSent: true, completed: false, aborted: true, error: failure, bytesSent: 0, cutOff: undefined });
});

test("Express (test/res.json.js '\"json replacer\" setting': res.json() runs JSON.stringify(); a value it refuses, a BigInt): the error reaches Express's final handler before any byte, which answers 500: the task sees that 500 complete, no outcome.error", { timeout: 10_000 }, async (t) => {
  const app = express();
  app.set('env', 'test');
  const coda = expressCoda();
  app.use(coda);
  app.get('/', (_req, res) => { res.json({ n: 1n }); });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const seen = outcomeOfEach(coda.app);
  assert.match(await get(url), /^HTTP\/1\.1 500 /);
  const { status, completed, error } = await seen;
  assert.deepEqual({ status, completed, error }, { status: 500, completed: true, error: undefined });
});

/** An answer written on the connection by hand, as Fastify's test writes it. */
const RAW_ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';

test("a handler that writes its own answer on the connection and ends it (Fastify's test/skip-reply-send.test.js 'Sending a response using req.socket => onResponse not called', from a handler of the callback style and from a hook; Express's req.socket): it has answered: its task runs once, nothing stays in flight (it stayed in flight for good, its response's 'close' taken for a client that left)", { timeout: 10_000 }, async (t) => {
  const app = express();
  const coda = expressCoda();
  app.use(coda);
  app.get('/', (req) => { req.socket.end(RAW_ANSWER); });
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/handler', (request, reply) => {
    reply.hijack();
    request.raw.socket.write(RAW_ANSWER);
    request.raw.socket.end();
  });
  fastify.register(async (hooked) => {
    hooked.addHook('preHandler', async (request, reply) => {
      reply.hijack();
      request.raw.socket.end(RAW_ANSWER);
    });
    hooked.get('/hook', async () => assert.fail('a hijacked reply skips its handler'));
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  const fastifyUrl = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  const cases: [App, string, string][] = [
    [coda.app, await listening(t, app.listen(0, '127.0.0.1')), '/'],
    [fastify.coda.app, fastifyUrl, '/handler'],
    [fastify.coda.app, fastifyUrl, '/hook'],
  ];
  for (const [codaApp, url, path] of cases) {
    const ran: Outcome[] = [];
    const disconnect = codaApp.signals.requestStarted.connect(() => { after(({ outcome }) => { ran.push(outcome); }); });
    assert.equal(await get(url, path), RAW_ANSWER);
    await codaApp.settle();
    disconnect();
    // Coda sees what goes through the response: none of what was written by hand.
    assert.deepEqual(ran.map(({ headersSent, bytesSent }) => [headersSent, bytesSent]), [[false, 0]], path);
    assert.equal(codaApp.requestsInFlight, 0);
  }
});

test("Express: a handler that writes its own answer on the connection (req.socket.write()) once its client left, and never ends or destroys it, has answered: its task runs, shutdown does not wait for it (it stayed in flight until shutdown gave up on it)", { timeout: 10_000 }, async () => {
  const started = deferred();
  const release = deferred();
  const left = deferred();
  const ran: Outcome[] = [];
  const app = express();
  const coda = expressCoda();
  app.use(coda);
  app.get('/', async (req) => {
    after(({ outcome }) => { ran.push(outcome); });
    req.socket.once('close', () => left.resolve());
    started.resolve();
    await release.promise;
    req.socket.write(RAW_ANSWER);
  });
  const attached = coda.attach(app.listen(0, '127.0.0.1'), { handleSignals: false });
  if (!attached.server.listening) await once(attached.server, 'listening');
  const client = net.connect((attached.server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  client.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await started.promise;
  client.destroy();
  await left.promise;
  release.resolve();
  const report = await attached.close({ timeoutMs: 3_000 });
  assert.deepEqual([report.tasksAbandoned, ran.map(({ aborted, headersSent, bytesSent }) => [aborted, headersSent, bytesSent])], [[], [[true, false, 0]]]);
});
