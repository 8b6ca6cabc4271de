// A server's own timeouts cutting a request an adapted framework handles, over
// real sockets: Node's idle timeout (`server.setTimeout(ms)` without a
// callback, `server.timeout`, Fastify's `connectionTimeout`) destroying the
// connection while the handler still works. The server cut it, not its
// client: the tasks see why (`outcome.cutOff`), as for a `requestTimeout`.
// And a requestTimeout on a connection with pipelined requests: Node's 408
// goes out as the answer of the response it is answering, the first's.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { serve as honoServe } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { after, type App, type Outcome } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda } from 'coda-http/hono';
import { coda as koaCoda } from 'coda-http/koa';
import { deferred } from '../helpers.js';
import { exchange } from './raw-client.js';

const IDLE_MS = 200;
const IDLE_CUT = `nothing was read or written on its connection for ${IDLE_MS} ms (the server's timeout)`;

async function listening(t: TestContext, server: Server): Promise<number> {
  if (!server.listening) await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

/** A task registered for every request as it starts, resolving with its outcome. */
function outcomeOfEach(app: App): Promise<Outcome> {
  const seen = deferred<Outcome>();
  app.signals.requestStarted.connect(() => { after(({ outcome }) => { seen.resolve(outcome); }); });
  return seen.promise;
}

const what = ({ headersSent, completed, aborted, error, bytesSent, cutOff }: Outcome) => ({ headersSent, completed, aborted, error, bytesSent, cutOff });

/** A handler's work: it answers once `release` resolves, after its connection was cut. */
type Work = { release: Promise<void> };

/** Each framework on a server whose idle timeout is IDLE_MS, without a callback: GET / answers once the work is released; GET /head writes its head first. */
const idleTargets: Record<string, (t: TestContext, work: Work) => Promise<{ port: number; app: App }>> = {
  async express(t, work) {
    const app = express();
    const coda = expressCoda();
    app.use(coda);
    app.get('/head', async (_req, res) => { res.flushHeaders(); await work.release; res.end('late'); });
    app.get('/', async (_req, res) => { await work.release; res.end('late'); });
    const server = app.listen(0, '127.0.0.1');
    server.setTimeout(IDLE_MS);
    return { port: await listening(t, server), app: coda.app };
  },
  async koa(t, work) {
    const app = new Koa();
    const coda = koaCoda();
    app.use(coda);
    app.use(async (ctx) => {
      if (ctx.path === '/head') {
        ctx.status = 200;
        ctx.res.flushHeaders();
      }
      await work.release;
      ctx.body = 'late';
    });
    const server = http.createServer(app.callback());
    server.timeout = IDLE_MS;
    return { port: await listening(t, server.listen(0, '127.0.0.1')), app: coda.app };
  },
  async hono(t, work) {
    const app = new Hono();
    const coda = honoCoda();
    app.use(coda);
    // A stream's head goes out before its first chunk, which waits for the work.
    app.get('/head', (c) => c.body(new ReadableStream({
      async pull(controller) {
        await work.release;
        controller.enqueue(new TextEncoder().encode('late'));
        controller.close();
      },
    })));
    app.get('/', async (c) => { await work.release; return c.text('late'); });
    const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    server.setTimeout(IDLE_MS);
    return { port: await listening(t, server), app: coda.app };
  },
  async fastify(t, work) {
    const fastify = Fastify({ connectionTimeout: IDLE_MS });
    await fastify.register(fastifyCoda);
    fastify.get('/head', async (_request, reply) => { reply.raw.flushHeaders(); await work.release; return 'late'; });
    fastify.get('/', async () => { await work.release; return 'late'; });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => fastify.close());
    return { port: (fastify.server.address() as AddressInfo).port, app: fastify.coda.app };
  },
};

for (const [name, start] of Object.entries(idleTargets)) {
  test(`${name}: the server's idle timeout (no callback) destroys the connection while the handler still works: the tasks see the server cut it (cutOff says why), with the head it had sent if any, not a client that left; the request stays in flight until its handler answers`, { timeout: 10_000 }, async (t) => {
    for (const [path, wirePattern, headersSent] of [['/', /^$/, false], ['/head', /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/, true]] as const) {
      const work = deferred();
      const { port, app } = await start(t, { release: work.promise });
      const seen = outcomeOfEach(app);
      assert.match(await exchange(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`), wirePattern, path);
      assert.equal(app.requestsInFlight, 1, `${path}: its handler still works`);
      work.resolve();
      const outcome = await seen;
      assert.deepEqual(what(outcome), { headersSent, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: IDLE_CUT }, path);
      if (headersSent) assert.equal(outcome.status, 200, path);
      await app.settle();
      assert.equal(app.requestsInFlight, 0, path);
    }
  });
}

test("Express: a head written once the connection is destroyed, before its 'close' (the handler answering in the same turn as the server's cut): Node says it was sent, the client got nothing: the task sees headersSent false", { timeout: 10_000 }, async (t) => {
  const app = express();
  const coda = expressCoda();
  app.use(coda);
  app.get('/', (req, res) => {
    req.socket.destroy();
    res.end('late');
  });
  const server = app.listen(0, '127.0.0.1');
  const port = await listening(t, server);
  const seen = outcomeOfEach(coda.app);
  assert.equal(await exchange(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), '');
  assert.deepEqual(what(await seen), { headersSent: false, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: undefined });
});

/** A GET whose handler works until released, then a POST pipelined behind it whose body stops short of its Content-Length, the client still there. */
const PIPELINED = 'GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"n":';

/**
 * Each framework whose server's requestTimeout is 300 ms (checked every 50): GET /slow answers once released (its head
 * first with ?flush), POST /upload reads a JSON body. `flushedWire`: what its client gets when /slow's head was out.
 */
const pipelinedTargets: Record<string, { flushedWire: RegExp; start(t: TestContext, work: Work): Promise<{ port: number; app: App }> }> = {
  // Node writes no 408 once the head of the response it is answering is out.
  express: { flushedWire: /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/, async start(t, work) {
    const app = express();
    app.set('env', 'test');
    const coda = expressCoda();
    app.use(coda, express.json());
    app.get('/slow', async (req, res) => {
      if ('flush' in req.query) res.flushHeaders();
      await work.release;
      res.end('slow');
    });
    app.post('/upload', (_req, res) => { res.send('saved'); });
    return { port: await listening(t, http.createServer({ requestTimeout: 300, connectionsCheckingInterval: 50 }, app).listen(0, '127.0.0.1')), app: coda.app };
  } },
  // Fastify's clientError handler writes its 408 whatever was sent: inside the first's chunked body, after its head.
  fastify: { flushedWire: /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nHTTP\/1\.1 408 Request Timeout\r\n[^]*"statusCode":408}$/, async start(t, work) {
    const fastify = Fastify({ requestTimeout: 300, http: { requestTimeout: 300, connectionsCheckingInterval: 50 } });
    await fastify.register(fastifyCoda);
    fastify.get('/slow', async (request, reply) => {
      if (!('flush' in (request.query as object))) return work.release.then(() => 'slow');
      reply.hijack();
      reply.raw.flushHeaders();
      await work.release;
      reply.raw.end('slow');
      return reply;
    });
    fastify.post('/upload', async () => 'saved');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => fastify.close());
    return { port: (fastify.server.address() as AddressInfo).port, app: fastify.coda.app };
  } },
};

for (const [name, { flushedWire, start }] of Object.entries(pipelinedTargets)) {
  test(`${name}: the body of a request pipelined behind one still handled does not arrive within the requestTimeout: the 408 goes out as the first's answer (its client reads it so), and each outcome says what its client got; with the first's head out, Node writes no 408 (Fastify's clientError handler writes its own inside the first's body) and the first is cut`, { timeout: 10_000 }, async (t) => {
    for (const flush of [false, true]) {
      const work = deferred();
      const { port, app } = await start(t, { release: work.promise });
      const seen = new Map<string, Outcome>();
      const both = deferred();
      app.signals.requestStarted.connect(({ request }) => {
        after(({ outcome }) => {
          seen.set(request.path, outcome);
          if (seen.size === 2) both.resolve();
        });
      });
      const wire = await exchange(port, PIPELINED.replace('/slow', flush ? '/slow?flush' : '/slow'));
      work.resolve();
      await both.promise;
      const slow = seen.get('/slow')!;
      assert.match(wire, flush ? flushedWire : /^HTTP\/1\.1 408 Request Timeout\r\n[^]*\r\n\r\n/, `flush: ${flush}`);
      assert.deepEqual([slow.status, what(slow)], [flush ? 200 : 408, { headersSent: true, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: 'a request behind it on its connection did not arrive in time' }], `flush: ${flush}`);
      assert.deepEqual(what(seen.get('/upload')!), { headersSent: false, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: 'the request did not arrive in time' }, `flush: ${flush}`);
      await app.settle();
      assert.equal(app.requestsInFlight, 0);
    }
  });
}

test("Express: a clientError listener of the app's own that destroys the connection without Node's timeout error, when a body does not arrive within the requestTimeout: nothing is sent, and the outcome is aborted with no cutOff (the cut is read from that error), no head sent", { timeout: 10_000 }, async (t) => {
  const app = express();
  app.set('env', 'test');
  const coda = expressCoda();
  app.use(coda, express.json());
  app.post('/upload', (_req, res) => { res.send('saved'); });
  const server = http.createServer({ requestTimeout: 300, connectionsCheckingInterval: 50 }, app);
  server.on('clientError', (_error: Error, socket: Socket) => { socket.destroy(); });
  const port = await listening(t, server.listen(0, '127.0.0.1'));
  const seen = outcomeOfEach(coda.app);
  assert.equal(await exchange(port, 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"n":'), '');
  assert.deepEqual(what(await seen), { headersSent: false, completed: false, aborted: true, error: undefined, bytesSent: 0, cutOff: undefined });
  await coda.app.settle();
  assert.equal(coda.app.requestsInFlight, 0);
});
