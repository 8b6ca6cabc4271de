// A server's own timeouts cutting a request an adapted framework handles, over
// real sockets: Node's idle timeout (`server.setTimeout(ms)` without a
// callback, `server.timeout`, Fastify's `connectionTimeout`) destroying the
// connection while the handler still works. The server cut it, not its
// client: the tasks see why (`outcome.cutOff`), as for a `requestTimeout`.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
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
    const app = new Hono<{ Bindings: HttpBindings }>();
    const coda = honoCoda();
    app.use(coda);
    app.get('/head', async (c) => { c.env.outgoing.flushHeaders(); await work.release; return c.text('late'); });
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
