// Framework conventions the adapters must keep, ported from the frameworks'
// own suites with the real frameworks: fastify-plugin (test/test.js: the
// plugin's metadata, "should check fastify dependency graph - plugin /
// decorate / decorateReply"), Fastify's inject() and hook error tests
// (test/inject.test.js, test/hooks.test.js "onClose" order), a web stream
// failing after its head (test/web-api.test.js), Express (an app
// mounted under a path, next(err) and error-handling middleware, test/app.router.js
// and test/app.use.js; a client aborting res.sendFile(), test/res.sendFile.js, and
// res.download(), test/res.download.js; res.redirect(), test/res.redirect.js),
// and Koa (ctx.respond = false and ctx.throw after an await,
// test/application/respond.test.js, test/context/throw.test.js; an 'error'
// listener that ends a response whose head is out, test/context/onerror.test.js); and
// code of the request that the frameworks run outside its async context:
// Koa's 'error' listeners, Fastify's onRequestAbort hooks, the onAbort()
// listeners of Hono's stream() helper (src/helper/streaming/stream.test.ts).
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { stream as honoStream, streamSSE as honoStreamSSE } from 'hono/streaming';
import Koa from 'koa';
import Router from '@koa/router';
import { after, type App, type Outcome } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda } from 'coda-http/hono';
import { coda as koaCoda } from 'coda-http/koa';
import { kClosingSignal } from '../../src/symbols.js';
import { deferred, memoryLogger } from '../helpers.js';
import { idleAndBusy } from './http2-clients.js';

/**
 * What fastify-plugin's `fp(fn, meta)` does (fastify-plugin is not a
 * dependency of this package): skip-override, so the plugin's decorators and
 * hooks belong to the instance it is registered on, and the metadata Fastify
 * reads for `hasPlugin()` and `dependencies`.
 */
function fp(fn: FastifyPluginAsync, meta: { name: string; dependencies?: string[]; decorators?: object }): FastifyPluginAsync {
  return Object.assign(fn, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: meta.name,
    [Symbol.for('plugin-meta')]: { fastify: '5.x', ...meta },
  });
}

/** Fastify listening on 127.0.0.1 until the test ends, asked for `path`. */
async function listenAndGet(t: TestContext, fastify: FastifyInstance, path = '/'): Promise<globalThis.Response> {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  return fetch(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}${path}`);
}

/** A task that notes its label and its response's status once it runs. */
function noting(seen: string[]) {
  return (label: string) => ({ outcome }: { outcome: Outcome }) => { seen.push(`${label} ${outcome.status}`); };
}

async function listening(t: TestContext, server: Server): Promise<string> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A GET whose response the test reads by hand. */
function open(url: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
}

/** A client that asks for `path` on 127.0.0.1's `port` and leaves (a reset) once its handler is running (`handling`). */
async function leaving(port: number | string, path: string, handling: Promise<void>): Promise<void> {
  const client = net.connect(Number(port), '127.0.0.1');
  client.on('error', () => {});
  client.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  await handling;
  client.destroy();
}

/** The body of a response that fails before its end (its connection cut), as the client received it. */
async function cutShort(response: http.IncomingMessage): Promise<string> {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => { body += chunk; });
  await assert.rejects(once(response, 'end'), /aborted/);
  return body;
}

async function statuses(url: string, paths: string[]): Promise<[number, string][]> {
  const answers: [number, string][] = [];
  for (const path of paths) {
    const response = await fetch(`${url}${path}`);
    answers.push([response.status, await response.text()]);
  }
  return answers;
}

test("fastify-plugin 'should set display-name to meta name', 'should check fastify dependency graph': registered through a wrapping plugin it reaches the root, and plugins may depend on it by name", { timeout: 10_000 }, async () => {
  const fastify = Fastify();
  await fastify.register(fp(async (instance) => { await instance.register(fastifyCoda); }, { name: 'setup' }));
  await fastify.register(fp(async () => {}, { name: 'needs-coda', dependencies: ['coda-http'], decorators: { fastify: ['coda'], reply: ['after'] } }));
  await fastify.ready();
  assert.equal(fastify.hasPlugin('coda-http'), true);
  assert.equal(fastify.hasDecorator('coda'), true);
  assert.equal(fastify.hasReplyDecorator('after'), true);
  await fastify.close();
  const without = Fastify();
  void without.register(fp(async () => {}, { name: 'needs-coda', dependencies: ['coda-http'] }));
  await assert.rejects(async () => { await without.ready(); }, { message: "The dependency 'coda-http' of plugin 'needs-coda' is not registered" });
});

test('fastify.inject(): after() and reply.after() run with the outcome; a handler that throws and a hook that throws are 500s, their tasks still run', { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const note = noting(seen);
  const fastify = Fastify();
  await fastify.register(fastifyCoda, { after: { onError: () => {} } });
  fastify.addHook('onRequest', async (request) => {
    if (request.url === '/hook') {
      after(note('hook'));
      throw new Error('hook failed');
    }
  });
  fastify.get('/', async (_request, reply) => {
    after(note('after'));
    reply.after(note('reply.after'));
    return { ok: true };
  });
  fastify.get('/throws', async () => {
    after(note('throws'));
    await Promise.resolve();
    throw new Error('boom');
  });
  const answers = [];
  for (const url of ['/', '/throws', '/hook']) answers.push((await fastify.inject(url)).statusCode);
  assert.deepEqual(answers, [200, 500, 500]);
  await fastify.coda.app.settle();
  assert.deepEqual(seen, ['after 200', 'reply.after 200', 'throws 500', 'hook 500']);
  await fastify.close();
});

test("fastify.inject() (test/inject.test.js 'should reply with the payload', 'should support stream payload'): the outcome is complete with the bytes of the body, so 'success' tasks run", { timeout: 10_000 }, async () => {
  const outcomes: Outcome[] = [];
  const succeeded: string[] = [];
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/:how', async (request, reply) => {
    const { how } = request.params as { how: string };
    reply.after(({ outcome }) => { outcomes.push(outcome); });
    after(() => { succeeded.push(how); }, { when: 'success' });
    return how === 'stream' ? reply.send(Readable.from(['a', 'bc'])) : 'body';
  });
  // light-my-request ends its response through its own write(): each byte counted once.
  const bodies = [];
  for (const url of ['/text', '/stream']) bodies.push((await fastify.inject(url)).body);
  assert.deepEqual(bodies, ['body', 'abc']);
  await fastify.coda.app.settle();
  assert.deepEqual(outcomes.map(({ status, completed, aborted, bytesSent }) => ({ status, completed, aborted, bytesSent })), [
    { status: 200, completed: true, aborted: false, bytesSent: 4 },
    { status: 200, completed: true, aborted: false, bytesSent: 3 },
  ]);
  assert.deepEqual(succeeded, ['text', 'stream']);
  await fastify.close();
});

/** A web ReadableStream that gives 'partial', then fails with `failure`. */
function failingWebStream(failure: Error): ReadableStream<Uint8Array> {
  let pulled = 0;
  return new ReadableStream({
    pull(controller) {
      if (pulled++ === 0) controller.enqueue(Buffer.from('partial'));
      else controller.error(failure);
    },
  });
}

test("Fastify: a web ReadableStream reply that fails once its head is out (test/web-api.test.js 'WebStream error after headers sent should destroy response'): outcome.error is the failure, as for a Node stream", { timeout: 10_000 }, async (t) => {
  const failure = new Error('the source broke');
  const seen = deferred<Outcome>();
  const fastify = Fastify({ logger: false });
  await fastify.register(fastifyCoda);
  fastify.get('/', (_request, reply) => {
    reply.after(({ outcome }) => { seen.resolve(outcome); });
    return reply.send(failingWebStream(failure));
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  await assert.rejects(fetch(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/`).then((response) => response.text()));
  const outcome = await seen.promise;
  assert.deepEqual([outcome.aborted, outcome.bytesSent, outcome.error], [true, 7, failure]);
});

test("Fastify's onClose order: a plugin registered before Coda (a database) closes only after the tasks drained", { timeout: 10_000 }, async () => {
  const events: string[] = [];
  const fastify = Fastify();
  let open = true;
  await fastify.register(fp(async (instance) => {
    instance.addHook('onClose', async () => {
      open = false;
      events.push('db closed');
    });
  }, { name: 'db' }));
  await fastify.register(fastifyCoda);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  fastify.get('/', async () => {
    after(async () => {
      await released;
      events.push(open ? 'audit written' : 'audit written to a closed db');
    }, { name: 'audit' });
    return 'ok';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const response = await fetch(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/`);
  assert.equal(await response.text(), 'ok');
  const closing = fastify.coda.close();
  release();
  assert.equal((await closing).tasksCompleted, 1);
  assert.deepEqual(events, ['audit written', 'db closed']);
});

test("Fastify({ forceCloseConnections: true }) (test/close.test.js 'shutsdown while keep-alive connections are active', forceCloseConnections): fastify.close() destroys the connection of a request in flight; the request ends aborted once its handler answers, its task runs, the report counts it", { timeout: 10_000 }, async () => {
  const seen = deferred<Outcome>();
  const handling = deferred();
  const release = deferred();
  const fastify = Fastify({ forceCloseConnections: true });
  await fastify.register(fastifyCoda);
  fastify.get('/slow', async () => {
    after(({ outcome }) => { seen.resolve(outcome); }, { name: 'audit' });
    handling.resolve();
    await release.promise;
    return 'nobody reads this';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const answered = fetch(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/slow`);
  await handling.promise;
  const closing = fastify.coda.close();
  await assert.rejects(answered, 'Fastify destroyed the connection');
  release.resolve();
  const report = await closing;
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksCompleted, report.tasksAbandoned], [1, 1, []]);
  assert.deepEqual([(await seen.promise).aborted, (await seen.promise).status], [true, 200]);
});

/** Where localhost is both 127.0.0.1 and ::1 (macOS, most distributions), Fastify listens on each, the second with a server of its own: so it is here. */
function localhostBoth(t: TestContext): void {
  const lookup = dns.lookup;
  t.mock.method(dns, 'lookup', (host: string, options: unknown, callback: (...args: unknown[]) => void) => {
    if (host === 'localhost' && (options as { all?: boolean }).all === true) callback(null, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
    else (lookup as (...args: unknown[]) => void)(host, options, callback);
  });
}

test("Fastify's multiple bindings (test/close.test.js 'triggers on-close hook in the right order with multiple bindings'): a request in flight on the second server 'localhost' binds (::1) is answered with Connection: close once fastify.close() begins, as on the first", { timeout: 10_000 }, async (t) => {
  localhostBoth(t);
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  const handling = deferred();
  const release = deferred();
  fastify.get('/', async () => {
    handling.resolve();
    await release.promise;
    return 'ok';
  });
  await fastify.listen({ port: 0, host: 'localhost' });
  const addresses = fastify.addresses() as AddressInfo[];
  assert.deepEqual(addresses.map(({ address }) => address).sort(), ['127.0.0.1', '::1']);
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '::1', port: addresses[0]!.port, path: '/', agent }, resolve).on('error', reject);
  });
  await handling.promise;
  const closing = fastify.coda.close();
  const signal = fastify.coda.app[kClosingSignal];
  if (!signal.aborted) await once(signal, 'abort');
  release.resolve();
  const response = await answer;
  response.resume();
  assert.equal(response.headers.connection, 'close');
  assert.equal((await closing).requestsInFlightAtClose, 1);
});

/** The client's session too: one whose stream the test left open would keep it. */
async function closeBoth(session: http2.ClientHttp2Session, fastify: { close(): Promise<unknown> }): Promise<void> {
  session.close();
  await fastify.close();
}

test('Fastify over HTTP/2 (Fastify({ http2: true }), test/http2/closing.test.js): a stream the client cancels before the handler answers is aborted, not completed: its completed-only tasks are skipped (one read whole is completed)', { timeout: 10_000 }, async (t) => {
  const outcomes: Outcome[] = [];
  const completed: string[] = [];
  const handling = deferred();
  const left = deferred();
  const fastify = Fastify({ http2: true });
  await fastify.register(fastifyCoda);
  fastify.get('/', async (_request, reply) => {
    reply.after(({ outcome }) => { outcomes.push(outcome); });
    after(() => { completed.push('ran'); }, { when: 'completed' });
    reply.raw.once('close', () => left.resolve());
    handling.resolve();
    await left.promise;
    return 'nobody reads this';
  });
  fastify.get('/whole', async (_request, reply) => {
    reply.after(({ outcome }) => { outcomes.push(outcome); });
    return 'read';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const session = http2.connect(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`);
  t.after(() => closeBoth(session, fastify));
  const whole = session.request({ ':path': '/whole' });
  whole.resume();
  await once(whole, 'end');
  await fastify.coda.app.settle();
  const stream = session.request({ ':path': '/' });
  stream.on('error', () => {});
  await handling.promise;
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await left.promise;
  await fastify.coda.app.settle();
  assert.deepEqual(outcomes.map(({ completed, aborted }) => ({ completed, aborted })), [{ completed: true, aborted: false }, { completed: false, aborted: true }]);
  assert.deepEqual(completed, []);
});

test("Fastify over HTTP/2: a task's request is the request as an HTTP/1.1 one would be, as on Coda's own server: no pseudo-headers, :authority as Host, the client's address", { timeout: 10_000 }, async (t) => {
  const seen = deferred<[string | null, boolean, string | undefined, string]>();
  const fastify = Fastify({ http2: true });
  await fastify.register(fastifyCoda);
  fastify.get('/', async () => {
    after(({ request }) => { seen.resolve([request.headers.get('host'), request.headers.has(':path'), request.ip, request.id]); });
    return 'ok';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const authority = `127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  const session = http2.connect(`http://${authority}`);
  t.after(() => closeBoth(session, fastify));
  const stream = session.request({ ':path': '/', 'x-request-id': 'h2-req' });
  stream.resume();
  await once(stream, 'end');
  assert.deepEqual(await seen.promise, [authority, false, '127.0.0.1', 'h2-req']);
});

test("Fastify over HTTP/2: fastify.close() sends every session a GOAWAY as the drain begins: a client session left open does not hold it (on Node 22 it waited for Fastify's http2SessionTimeout, 72 s), a stream in flight is still answered whole", { timeout: 10_000 }, async (t) => {
  const handling = deferred();
  const release = deferred();
  const fastify = Fastify({ http2: true });
  await fastify.register(fastifyCoda);
  fastify.get('/', async () => 'idle after this');
  fastify.get('/slow', async () => {
    handling.resolve();
    await release.promise;
    return 'answered';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  node22Close(t, fastify.server);
  const { idle, busy, goaways, body } = await idleAndBusy(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, '/slow', handling.promise);
  const closing = fastify.coda.close();
  await goaways;
  release.resolve();
  assert.equal(await body, 'answered');
  assert.equal((await closing).requestsInFlightAtClose, 1);
  await Promise.all([idle, busy].map((session) => session.closed || once(session, 'close')));
});

test("Fastify over HTTP/2 on both of localhost's addresses: the sessions on the second server (::1), one opened before its first request among them, get their GOAWAY as the drain begins too (on Node 22 they kept that server open after fastify.close())", { timeout: 10_000 }, async (t) => {
  localhostBoth(t);
  const fastify = Fastify({ http2: true });
  await fastify.register(fastifyCoda);
  fastify.get('/', async () => 'ok');
  await fastify.listen({ port: 0, host: 'localhost' });
  node22Close(t, fastify.server);
  const url = `http://[::1]:${(fastify.addresses()[0] as AddressInfo).port}`;
  // One session open before the server's first request (a client that connects ahead), one that makes that request.
  const early = http2.connect(url);
  await once(early, 'connect');
  const first = http2.connect(url);
  for (const session of [first, early]) {
    t.after(() => session.destroy());
    const stream = session.request({ ':path': '/' });
    stream.resume();
    await once(stream, 'end');
  }
  const goaways = Promise.all([once(first, 'goaway'), once(early, 'goaway')]);
  await fastify.coda.close();
  await goaways;
});

/**
 * Node 22's HTTP/2 server close, for this test: it sends no GOAWAY (Node 24 and 26 send one to every session in
 * server.close()), so a GOAWAY the client gets is the plugin's. Every HTTP/2 server of the process (Fastify's second
 * one, for ::1, too) until the test ends.
 */
function node22Close(t: TestContext, server: object): void {
  const proto = Object.getPrototypeOf(server) as { close: unknown };
  const own = Object.getOwnPropertyDescriptor(proto, 'close');
  // Node 22: its HTTP/2 server has no close of its own (net.Server's).
  if (own === undefined) return;
  proto.close = net.Server.prototype.close;
  t.after(() => Object.defineProperty(proto, 'close', own));
}

test("Fastify over HTTP/2: a reply's stream (a Node one, a web ReadableStream) that fails once its head is out resets the stream with an error: its client sees the response fail (Fastify, Coda or not, reset it with NO_ERROR: the client read the body cut short as whole); outcome.error is the failure", { timeout: 10_000 }, async (t) => {
  const failure = new Error('the source broke');
  const outcomes: Outcome[] = [];
  const fastify = Fastify({ http2: true });
  await fastify.register(fastifyCoda, { logger: memoryLogger().logger });
  fastify.get('/node', async (_request, reply) => {
    reply.after(({ outcome }) => { outcomes.push(outcome); });
    return reply.send(Readable.from((async function* () {
      yield 'partial';
      await null;
      throw failure;
    })()));
  });
  fastify.get('/web', async (_request, reply) => {
    reply.after(({ outcome }) => { outcomes.push(outcome); });
    return reply.send(failingWebStream(failure));
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const session = http2.connect(`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`);
  t.after(() => closeBoth(session, fastify));
  for (const path of ['/node', '/web']) {
    const stream = session.request({ ':path': path });
    const seen: string[] = [];
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => { seen.push(chunk); });
    stream.on('end', () => { seen.push('(end)'); });
    stream.on('error', (error: NodeJS.ErrnoException) => { seen.push(`(${error.code})`); });
    await new Promise((resolve) => stream.once('close', resolve));
    assert.deepEqual([seen, stream.rstCode], [['partial', '(ERR_HTTP2_STREAM_ERROR)'], http2.constants.NGHTTP2_INTERNAL_ERROR], path);
  }
  await fastify.coda.app.settle();
  assert.deepEqual(outcomes.map(({ aborted, error }) => [aborted, error]), [[true, failure], [true, failure]]);
});

test('Express: the adapter in an app mounted under a path; next(err), an async throw and the error handler: tasks run with the status the handler sent', { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const api = express();
  const tasks = expressCoda({ after: { onError: () => {} } });
  api.use(tasks);
  api.get('/users/:id', (req, res) => {
    after(note(`${req.baseUrl} ${req.params.id}`));
    res.send('user');
  });
  api.get('/next-err', (_req, _res, next) => {
    after(note('next(err)'));
    next(new Error('nope'));
  });
  api.get('/async-throw', async () => {
    after(note('async throw'));
    await Promise.resolve();
    throw new Error('async nope');
  });
  api.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.after(note(`handler: ${error.message}`));
    res.status(502).send('handled');
  });
  const parent = express();
  parent.use('/api', api);
  const url = await listening(t, parent.listen(0, '127.0.0.1'));
  assert.deepEqual(await statuses(url, ['/api/users/7', '/api/next-err', '/api/async-throw']), [[200, 'user'], [502, 'handled'], [502, 'handled']]);
  await tasks.app.settle();
  assert.deepEqual(seen, ['/api 7 200', 'next(err) 502', 'handler: nope 502', 'async throw 502', 'handler: async nope 502']);
});

test("Express 5's async errors (its router's promise support: a handler's rejected promise is given to next()), once the head is out (a write, an await, a throw), no error handler of the app's: the client receives what was written, then sees the response fail; outcome.error is the rejection, with the status sent", { timeout: 10_000 }, async (t) => {
  const failure = new Error('async failure after the head');
  const seen = deferred<Outcome>();
  const app = express();
  app.set('env', 'test');
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/', async (_req, res) => {
    res.after(({ outcome }) => { seen.resolve(outcome); });
    res.status(201).write('written first');
    await new Promise((resolve) => setImmediate(resolve));
    throw failure;
  });
  const response = await open(await listening(t, app.listen(0, '127.0.0.1')));
  assert.deepEqual([response.statusCode, await cutShort(response)], [201, 'written first']);
  const outcome = await seen.promise;
  assert.deepEqual([outcome.status, outcome.error, outcome.completed], [201, failure, false]);
});

test("Express: an error handler that sets res.status(500) once the head went out with a 200 (then hands the error on): the tasks see the 200 the client got, and the error", { timeout: 10_000 }, async (t) => {
  const failure = new Error('failed after the head');
  const seen = deferred<Outcome>();
  const app = express();
  app.use(expressCoda());
  app.get('/', (_req, res, next) => {
    res.after(({ outcome }) => { seen.resolve(outcome); });
    res.write('partial');
    next(failure);
  });
  app.use((error: Error, _req: Request, res: Response, next: NextFunction) => {
    res.status(500);
    next(error);
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const response = await open(url);
  await assert.rejects(async () => {
    for await (const _ of response);
  });
  const outcome = await seen.promise;
  assert.deepEqual([response.statusCode, outcome.status, outcome.error], [200, 200, failure]);
});

test("Express: res.write() after res.end() (Node refuses it with ERR_STREAM_WRITE_AFTER_END on the response): its bytes are not counted as sent", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const refused = deferred<string>();
  const app = express();
  app.use(expressCoda());
  app.get('/', (_req, res) => {
    res.after(({ outcome }) => { seen.resolve(outcome); });
    res.on('error', (error: NodeJS.ErrnoException) => { refused.resolve(error.code!); });
    res.end('abc');
    res.write('defgh');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const response = await fetch(url);
  assert.equal(await response.text(), 'abc');
  assert.equal(await refused.promise, 'ERR_STREAM_WRITE_AFTER_END');
  const outcome = await seen.promise;
  assert.deepEqual([outcome.completed, outcome.bytesSent], [true, 3]);
});

test("Express: a response sent twice (res.send() again, sync or after an await: Node throws ERR_HTTP_HEADERS_SENT, which Express gives next()): the first went out whole, its tasks see it complete, no outcome.error, the 'success' ones run", { timeout: 10_000 }, async (t) => {
  const seen = new Map<string, Outcome>();
  const app = express();
  app.set('env', 'test');
  const coda = expressCoda();
  app.use(coda);
  const twice = (path: string, send: (res: Response) => Promise<void> | void): void => {
    app.get(path, (_req, res) => {
      res.after(({ outcome }) => { seen.set(path, outcome); }, { when: 'success' });
      return send(res);
    });
  };
  twice('/sync', (res) => { res.send('first'); res.send('second'); });
  twice('/async', async (res) => { await Promise.resolve(); res.send('first'); res.send('second'); });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  for (const path of ['/sync', '/async']) {
    const response = await fetch(url + path);
    assert.deepEqual([response.status, await response.text()], [200, 'first']);
  }
  await coda.app.settle();
  for (const path of ['/sync', '/async']) {
    const outcome = seen.get(path);
    assert.ok(outcome !== undefined, `the 'success' task of ${path} ran`);
    assert.deepEqual([outcome.completed, outcome.aborted, outcome.bytesSent, outcome.error], [true, false, 5, undefined], path);
  }
});

test("Express: a middleware that reads the body by hand (as multer and busboy do) and calls next() from its 'end': after() works in the routes after it, and in the request's 'close' listener", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const closed = deferred<void>();
  const app = express();
  const tasks = expressCoda();
  app.use(tasks);
  app.use((req, _res, next) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      req.body = body;
      next();
    });
  });
  app.post('/', (req, res) => {
    req.on('close', () => {
      after(note('close listener'));
      closed.resolve();
    });
    after(note(`route ${req.body}`));
    res.send('ok');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const response = await fetch(url, { method: 'POST', body: 'hello' });
  assert.deepEqual([response.status, await response.text()], [200, 'ok']);
  await closed.promise;
  await tasks.app.settle();
  assert.deepEqual(seen.sort(), ['close listener 200', 'route hello 200']);
});

/**
 * An Express app whose GET / sends a 32 MB file with `send` (res.sendFile(), res.download()), its callback's error given to
 * next(); opened by a client that reads the head. Resolves with that response, what the callback got and the outcome.
 */
async function sendingBigFile(t: TestContext, send: (res: Response, file: string, done: (error?: Error) => void) => void) {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-sendfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'big.bin');
  writeFileSync(file, Buffer.alloc(32 * 1024 * 1024));
  const seen = deferred<Outcome>();
  const calledBack = deferred<Error | undefined>();
  const app = express();
  app.set('env', 'test');
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/', (_req, res, next) => {
    res.after(({ outcome }) => { seen.resolve(outcome); });
    send(res, file, (error) => {
      calledBack.resolve(error);
      if (error) next(error);
    });
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  return { response: await open(url), calledBack: calledBack.promise, outcome: seen.promise };
}

test("Express res.sendFile() (test/res.sendFile.js 'should invoke the callback when client aborts'): the 'Request aborted' error it gives the callback, passed to next(), is a client that left: aborted, no outcome.error", { timeout: 10_000 }, async (t) => {
  const { response, calledBack, outcome } = await sendingBigFile(t, (res, file, done) => res.sendFile(file, done));
  await once(response, 'data');
  response.destroy();
  assert.equal((await calledBack)?.message, 'Request aborted');
  const { aborted, error } = await outcome;
  assert.deepEqual([aborted, error], [true, undefined]);
});

test("Express res.download() (test/res.download.js) whose client aborts mid-way: the 'Request aborted' its callback gets, passed to next(), is a client that left: aborted, no outcome.error, the bytes handed over counted", { timeout: 10_000 }, async (t) => {
  const { response, calledBack, outcome } = await sendingBigFile(t, (res, file, done) => res.download(file, 'report.bin', done));
  const disposition = response.headers['content-disposition'];
  let received = 0;
  for await (const chunk of response) {
    received += (chunk as Buffer).length;
    if (received > 1024 * 1024) break;
  }
  response.destroy();
  assert.equal(disposition, 'attachment; filename=report.bin');
  assert.equal((await calledBack)?.message, 'Request aborted');
  const { status, aborted, completed, error, bytesSent } = await outcome;
  assert.deepEqual([status, aborted, completed, error], [200, true, false, undefined]);
  assert.ok(bytesSent >= received && bytesSent < 32 * 1024 * 1024, `bytesSent ${bytesSent}, received ${received}`);
});

test("Express res.redirect() (test/res.redirect.js: 302 by default, a status given, HEAD without a body): the tasks see the status and the bytes of the body sent", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const app = express();
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/old', (req, res) => {
    after(({ outcome }) => { seen.push(`${req.method}: ${outcome.status} ${outcome.bytesSent} ${outcome.completed}`); });
    if (req.query['moved'] === undefined) res.redirect('/new');
    else res.redirect(301, '/new');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const answers: string[] = [];
  for (const [method, query] of [['GET', ''], ['GET', '?moved'], ['HEAD', '']] as const) {
    const response = await fetch(`${url}/old${query}`, { method, redirect: 'manual' });
    answers.push(`${response.status} ${response.headers.get('location')} ${(await response.text()).length}`);
  }
  await tasks.app.settle();
  assert.deepEqual(answers, ['302 /new 26', '301 /new 38', '302 /new 0']);
  assert.deepEqual(seen, ['GET: 302 26 true', 'GET: 301 38 true', 'HEAD: 302 0 true']);
});

test("Express res.sendFile() with a Range (send's 'with Range request': 206 Partial Content, 416 when unsatisfiable, a HEAD's head alone): the tasks see the status sent and the bytes of the part, each complete", { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-sendfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'text.txt');
  writeFileSync(file, '0123456789'.repeat(100));
  const seen: string[] = [];
  const app = express();
  app.set('env', 'test');
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/', (req, res) => {
    after(({ outcome }) => { seen.push(`${req.method} ${req.headers.range}: ${outcome.status} ${outcome.bytesSent} ${outcome.completed}`); });
    res.sendFile(file);
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const answers: string[] = [];
  for (const [method, range] of [['GET', 'bytes=0-99'], ['GET', 'bytes=-10'], ['GET', 'bytes=2000-3000'], ['HEAD', 'bytes=0-99']] as const) {
    const response = await fetch(url, { method, headers: { range } });
    answers.push(`${method} ${range}: ${response.status} ${response.headers.get('content-range')} ${(await response.text()).length}`);
  }
  await tasks.app.settle();
  assert.deepEqual(answers.slice(0, 2).concat(answers[3]!), ['GET bytes=0-99: 206 bytes 0-99/1000 100', 'GET bytes=-10: 206 bytes 990-999/1000 10', 'HEAD bytes=0-99: 206 bytes 0-99/1000 0']);
  assert.match(answers[2]!, /^GET bytes=2000-3000: 416 bytes \*\/1000 \d+$/);
  const notFound = Number(answers[2]!.split(' ').at(-1));
  assert.deepEqual(seen, ['GET bytes=0-99: 206 100 true', 'GET bytes=-10: 206 10 true', `GET bytes=2000-3000: 416 ${notFound} true`, 'HEAD bytes=0-99: 206 0 true']);
});

test("Hono on @hono/node-server: a handler's Response whose body stream errors mid-way (src/listener.test.ts, a ReadableStream that errors): outcome.error is that failure, the bytes sent before counted; its client sees the response fail", { timeout: 10_000 }, async (t) => {
  const failure = new Error('upstream broke');
  const seen = deferred<Outcome>();
  const app = new Hono<{ Bindings: HttpBindings }>();
  const tasks = honoCoda();
  app.use(tasks);
  app.get('/', () => {
    after(({ outcome }) => { seen.resolve(outcome); });
    let pulls = 0;
    return new Response(new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (pulls++ === 0) {
          controller.enqueue(new TextEncoder().encode('first chunk'));
        } else {
          // The upstream fails a turn later: the first chunk is on its way by then.
          await new Promise((resolve) => setImmediate(resolve));
          controller.error(failure);
        }
      },
    }));
  });
  // @hono/node-server prints the failure of a Response's stream (with or without Coda).
  t.mock.method(console, 'error', () => {});
  const response = await open(await listening(t, honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server));
  assert.equal(await cutShort(response), 'first chunk');
  const outcome = await seen.promise;
  assert.deepEqual([outcome.status, outcome.error, outcome.completed, outcome.bytesSent], [200, failure, false, 11]);
});

test("Koa (test/application/respond.test.js, a stream body): the client leaves (ctx.req aborted) while the body streams: the body stream is destroyed, the outcome aborted with no outcome.error (Koa's 'Premature close' is a client that left)", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const app = new Koa();
  app.silent = true;
  const tasks = koaCoda();
  app.use(tasks);
  let body: Readable | undefined;
  app.use((ctx) => {
    after(({ outcome }) => { seen.resolve(outcome); });
    let n = 0;
    // A chunk each time it is read, without end: a client reading it to the end never comes.
    body = new Readable({ read() { setImmediate(() => this.push(Buffer.alloc(1024, n++))); } });
    ctx.body = body;
  });
  const response = await open(await listening(t, app.listen(0, '127.0.0.1')));
  response.on('error', () => {});
  await once(response, 'data');
  response.destroy();
  const outcome = await seen.promise;
  assert.deepEqual([outcome.aborted, outcome.completed, outcome.error, body!.destroyed], [true, false, undefined, true]);
});

test("Koa: ctx.respond = false (the response written by hand) and ctx.throw after an await: tasks see the status sent; code after await next() can register too", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const app = new Koa();
  app.silent = true;
  const tasks = koaCoda({ after: { onError: () => {} } });
  app.use(tasks);
  app.use(async (_ctx, next) => {
    await next();
    after(note('upstream'));
  });
  app.use(async (ctx) => {
    if (ctx.path === '/raw') {
      ctx.respond = false;
      ctx.res.statusCode = 201;
      ctx.res.end('raw');
      ctx.after(note('raw'));
      return;
    }
    after(note('before the throw'));
    await new Promise((resolve) => setImmediate(resolve));
    ctx.throw(409, 'conflict');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  assert.deepEqual(await statuses(url, ['/raw', '/conflict']), [[201, 'raw'], [409, 'conflict']]);
  await tasks.app.settle();
  assert.deepEqual(seen, ['raw 201', 'upstream 201', 'before the throw 409']);
});

test("Koa: an error-handling middleware that sets the status and body (test/application/respond.test.js, the docs' error handling: try { await next() } catch): the tasks see the status it set, no outcome.error", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const app = new Koa();
  const tasks = koaCoda();
  app.use(tasks);
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = (error as { status?: number }).status ?? 500;
      ctx.body = { message: (error as Error).message };
    }
  });
  app.use(async (ctx) => {
    after(({ outcome }) => { seen.push(`${ctx.path}: ${outcome.status} ${outcome.completed} ${outcome.error === undefined}`); });
    await Promise.resolve();
    if (ctx.path === '/conflict') ctx.throw(409, 'taken');
    throw new Error('broken');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  assert.deepEqual(await statuses(url, ['/conflict', '/broken']), [[409, '{"message":"taken"}'], [500, '{"message":"broken"}']]);
  await tasks.app.settle();
  assert.deepEqual(seen, ['/conflict: 409 true true', '/broken: 500 true true']);
});

test('Koa: ctx.respond = false and a client that left first: Koa writes nothing, so the request is done once the middleware has settled; what it registered runs before the shutdown report', { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const handling = deferred();
  const app = new Koa();
  const tasks = koaCoda();
  app.use(tasks);
  app.use(async (ctx) => {
    ctx.respond = false;
    const gone = new Promise((resolve) => ctx.res.once('close', resolve));
    handling.resolve();
    await gone;
    after(() => { seen.push('registered after the client left'); }, { name: 'late' });
  });
  const server = app.listen(0, '127.0.0.1');
  await leaving(new URL(await listening(t, server)).port, '/', handling.promise);
  const report = await tasks.attach(server, { handleSignals: false }).close({ timeoutMs: 2_000 });
  assert.deepEqual([seen, report.tasksAbandoned], [['registered after the client left'], []]);
});

test("Koa (context/onerror.test.js 'should ignore error after headerSent'): an error once the head is out whose 'error' listener ends the response: it completes, Coda cuts nothing", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const app = new Koa();
  app.on('error', (error: Error & { headerSent?: boolean }, ctx: Koa.Context) => {
    assert.deepEqual([error.message, error.headerSent], ['mock error', true]);
    ctx.res.end();
  });
  const tasks = koaCoda();
  app.use(tasks);
  app.use(async (ctx) => {
    ctx.after(({ outcome }) => { seen.resolve(outcome); });
    ctx.status = 200;
    ctx.set('X-Foo', 'Bar');
    ctx.flushHeaders();
    await Promise.reject(new Error('mock error'));
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  const response = await fetch(url);
  assert.deepEqual([response.status, response.headers.get('x-foo'), await response.text()], [200, 'Bar', '']);
  const outcome = await seen.promise;
  assert.deepEqual([outcome.completed, outcome.error], [true, undefined]);
});

test("Koa: the app's 'error' listener is code of the request: after() there registers a task, which runs with the error's response", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const app = new Koa();
  app.on('error', (error: Error) => {
    try {
      after(({ outcome }) => { seen.push(`${error.message} ${outcome.status}`); }, { name: 'report-error' });
    } catch (thrown) {
      seen.push(`after() threw: ${(thrown as Error).message}`);
    }
  });
  const tasks = koaCoda();
  app.use(tasks);
  app.use(async () => {
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('boom');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  assert.deepEqual(await statuses(url, ['/']), [[500, 'Internal Server Error']]);
  await tasks.app.settle();
  assert.deepEqual(seen, ['boom 500']);
});

/**
 * A Hono app (of `HonoApp`) on @hono/node-server whose route streams with
 * `stream` (Hono's helper) and calls after() from its onAbort() listener; a
 * client reads a chunk and leaves. Resolves with what the task saw, or what
 * after() threw.
 */
async function afterOnAbort(t: TestContext, HonoApp: typeof Hono, stream: typeof honoStream): Promise<string[]> {
  const seen: string[] = [];
  const aborted = deferred();
  const app = new HonoApp<{ Bindings: HttpBindings }>();
  const tasks = honoCoda();
  app.use(tasks);
  app.get('/', (c) => stream(c, async (body) => {
    body.onAbort(() => {
      try {
        after(({ outcome }) => { seen.push(`aborted ${outcome.aborted}`); }, { name: 'on-abort' });
      } catch (error) {
        seen.push(`after() threw: ${(error as Error).message}`);
      }
      aborted.resolve();
    });
    for (let i = 0; i < 10_000 && !body.aborted; i++) await body.write(new Uint8Array(64 * 1024));
  }));
  const server = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  const response = await open(await listening(t, server));
  await once(response, 'data');
  response.destroy();
  await aborted.promise;
  await tasks.app.settle();
  return seen;
}

test("Hono's stream() helper (src/helper/streaming/stream.test.ts 'Check stream Response if aborted by client'): its onAbort() listeners are code of the request: after() there registers a task, which runs with the aborted outcome", { timeout: 10_000 }, async (t) => {
  assert.deepEqual(await afterOnAbort(t, Hono, honoStream), ['aborted true']);
});

test("Hono's streamSSE() helper (src/helper/streaming/sse.test.ts, a client that aborts): its onAbort() listeners are code of the request too: after() there registers a task, which runs with the aborted outcome", { timeout: 10_000 }, async (t) => {
  assert.deepEqual(await afterOnAbort(t, Hono, honoStreamSSE as unknown as typeof honoStream), ['aborted true']);
});

/**
 * Frameworks whose request has an event its client's leaving fires (`onLeft`
 * gets the request's context and the listener): each starts an app whose
 * GET / gives that event a listener, then waits for it. Resolves with the
 * server's URL and the adapter's app.
 */
type OnLeft = (listener: () => void) => void;
const leavingEvents: { name: string; start(t: TestContext, route: (onLeft: OnLeft) => Promise<void>): Promise<{ url: string; app: App }> }[] = [
  {
    name: "Hono on @hono/node-server: the abort listeners of the Request's signal (c.req.raw.signal, aborted as the response closes)",
    async start(t, route) {
      const app = new Hono<{ Bindings: HttpBindings }>();
      const tasks = honoCoda();
      app.use(tasks);
      app.get('/', async (c) => {
        await route((listener) => c.req.raw.signal.addEventListener('abort', listener));
        return c.text('nobody reads this');
      });
      return { url: await listening(t, honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server), app: tasks.app };
    },
  },
  {
    name: "Koa: the 'close' listeners of the request (ctx.req)",
    async start(t, route) {
      const app = new Koa();
      const tasks = koaCoda();
      app.use(tasks);
      app.use(async (ctx) => {
        await route((listener) => ctx.req.once('close', listener));
        ctx.body = 'nobody reads this';
      });
      return { url: await listening(t, app.listen(0, '127.0.0.1')), app: tasks.app };
    },
  },
];

for (const target of leavingEvents) {
  test(`${target.name}, its client gone, are code of the request: after() there registers a task, which runs with the aborted outcome (it threw 'after() was called outside a request')`, { timeout: 10_000 }, async (t) => {
    const seen: string[] = [];
    const handling = deferred();
    const left = deferred();
    const { url, app } = await target.start(t, async (onLeft) => {
      onLeft(() => {
        try {
          after(({ outcome }) => { seen.push(`aborted ${outcome.aborted}`); }, { name: 'on-leaving' });
        } catch (error) {
          seen.push(`after() threw: ${(error as Error).message}`);
        }
        left.resolve();
      });
      handling.resolve();
      await left.promise;
    });
    await leaving(new URL(url).port, '/', handling.promise);
    await left.promise;
    await app.settle();
    assert.deepEqual(seen, ['aborted true']);
  });
}

test("Hono loaded with require() (its CommonJS build, another StreamingApi than its ES module's): the onAbort() listeners of its stream() helper are code of the request too", { timeout: 10_000 }, async (t) => {
  const require = createRequire(import.meta.url);
  const cjs = { hono: require('hono') as typeof import('hono'), streaming: require('hono/streaming') as typeof import('hono/streaming') };
  assert.notEqual(cjs.hono.Hono, Hono, 'require() gave the ES module: this case tests nothing');
  assert.deepEqual(await afterOnAbort(t, cjs.hono.Hono, cjs.streaming.stream), ['aborted true']);
});

test("Fastify: onRequestAbort hooks (an instance's, added before or after the plugin; a route's) and request.signal's abort listeners (test/request-signal.test.js 'request.signal is aborted when the client disconnects'), direct or through AbortSignal.any(), are code of the request: after() there registers a task, which runs with the aborted outcome (the hook added before and the listeners threw 'after() was called outside a request')", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const ran = deferred();
  const handling = deferred();
  const register = (where: string): void => {
    try {
      after(({ outcome }) => { seen.push(`${where}: aborted ${outcome.aborted}`); }, { name: where });
    } catch (error) {
      seen.push(`${where}: after() threw: ${(error as Error).message}`);
    }
    // Node runs the signal's listeners first, then Fastify the instance's hooks, then the route's.
    if (where === 'route') ran.resolve();
  };
  const fastify = Fastify();
  fastify.addHook('onRequestAbort', (_request, done) => {
    register('instance, added before');
    done();
  });
  await fastify.register(fastifyCoda);
  fastify.addHook('onRequestAbort', async (_request) => { register('instance'); });
  fastify.get('/slow', { onRequestAbort: (_request, done) => { register('route'); done(); } }, async (request) => {
    request.signal.addEventListener('abort', () => { register('signal'); });
    AbortSignal.any([request.signal]).addEventListener('abort', () => { register('AbortSignal.any()'); });
    handling.resolve();
    await ran.promise;
    return 'nobody reads this';
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  await leaving((fastify.server.address() as AddressInfo).port, '/slow', handling.promise);
  await ran.promise;
  await fastify.coda.app.settle();
  assert.deepEqual(seen.sort(), ['AbortSignal.any(): aborted true', 'instance, added before: aborted true', 'instance: aborted true', 'route: aborted true', 'signal: aborted true']);
});

test("Fastify: a handler of the callback style (it returns no promise) whose client left before it answered with reply.send() of a web ReadableStream (a fetch() Response's body, as a proxy sends it): Fastify writes none of it, yet the handler has answered: the request is done, its task runs (it stayed in flight, abandoned at the deadline)", { timeout: 10_000 }, async () => {
  const seen = deferred<Outcome>();
  const handling = deferred();
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/proxied', (_request, reply) => {
    reply.after(({ outcome }) => { seen.resolve(outcome); }, { name: 'audit' });
    // The upstream answers once the client has gone.
    reply.raw.once('close', () => { void reply.send(new Response('from upstream').body); });
    handling.resolve();
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  await leaving((fastify.server.address() as AddressInfo).port, '/proxied', handling.promise);
  const report = await fastify.coda.close({ timeoutMs: 1_000 });
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksCompleted, report.tasksAbandoned], [1, 1, []]);
  const outcome = await seen.promise;
  assert.deepEqual([outcome.aborted, outcome.headersSent, outcome.bytesSent], [true, false, 0]);
});

test("Fastify: an async handler that returns or awaits its reply to send it later (docs/Reference/Routes.md 'return reply'; test/async-await.test.js 'await reply if we will be calling reply.send in the future'), its client gone before that send: the request ends once its client has left (see the long poll below), and the later send still answers: what it registers then runs, a task of the request, its outcome aborted", { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const release = deferred();
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  const handling = { '/returned': deferred(), '/awaited': deferred() };
  const ended = { '/returned': deferred(), '/awaited': deferred() };
  const sent = { '/returned': deferred(), '/awaited': deferred() };
  /** Registers a task now, and another as it sends, once released: after its client has left. */
  const sendLater = (request: FastifyRequest, reply: FastifyReply): void => {
    const path = request.url as keyof typeof ended;
    after(({ outcome }) => {
      seen.push(`${path} before: aborted ${outcome.aborted}`);
      ended[path].resolve();
    });
    handling[path].resolve();
    void release.promise.then(() => {
      after(({ outcome }) => {
        seen.push(`${path} as it sends: aborted ${outcome.aborted}`);
        sent[path].resolve();
      });
      void reply.send(new Response('from upstream').body);
    });
  };
  fastify.get('/returned', async (request, reply) => {
    sendLater(request, reply);
    return reply;
  });
  fastify.get('/awaited', async (request, reply) => {
    sendLater(request, reply);
    await reply;
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  for (const path of ['/returned', '/awaited'] as const) {
    await leaving((fastify.server.address() as AddressInfo).port, path, handling[path].promise);
    await ended[path].promise;
  }
  release.resolve();
  await Promise.all([sent['/returned'].promise, sent['/awaited'].promise]);
  const report = await fastify.coda.close({ timeoutMs: 5_000 });
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksAbandoned], [0, []]);
  assert.deepEqual(seen.sort(), [
    '/awaited as it sends: aborted true', '/awaited before: aborted true', '/returned as it sends: aborted true', '/returned before: aborted true',
  ]);
});

test("Fastify: a long poll (an async handler returns its reply unsent, to send it when an event comes, and on the request's 'close' only cleans up), its client gone: the request ends once the request's 'close' listeners have run, its tasks run (those listeners' too) and nothing is in flight at close (it stayed in flight for good: settle() waited, shutdown gave up at its deadline, the tasks abandoned)", { timeout: 10_000 }, async () => {
  const seen: string[] = [];
  const handling = deferred();
  const ended = deferred();
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/poll', async (request, reply) => {
    after(({ outcome }) => {
      seen.push(`poll: aborted ${outcome.aborted}`);
      ended.resolve();
    });
    const event = setTimeout(() => reply.send('event'), 60_000);
    request.raw.once('close', () => {
      clearTimeout(event);
      after(() => { seen.push('cleanup'); });
    });
    handling.resolve();
    return reply;
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  await leaving((fastify.server.address() as AddressInfo).port, '/poll', handling.promise);
  await ended.promise;
  const report = await fastify.coda.close({ timeoutMs: 2_000 });
  assert.deepEqual([report.requestsInFlightAtClose, report.tasksAbandoned], [0, []]);
  assert.deepEqual(seen, ['poll: aborted true', 'cleanup']);
});

test("Express: after() and res.after() from the response's 'finish' listener, res.after() from its 'close' listener (where Express code waits for a response, on-finished's way): each task runs once, after the response, with its complete outcome", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = (where: string) => ({ outcome }: { outcome: Outcome }) => { seen.push(`${where}: ${outcome.completed} ${outcome.bytesSent}`); };
  const app = express();
  const tasks = expressCoda();
  app.use(tasks);
  app.get('/', (_req, res) => {
    res.once('finish', () => {
      after(note('after() on finish'));
      res.after(note('res.after() on finish'));
    });
    res.once('close', () => { res.after(note('res.after() on close')); });
    res.send('ok');
  });
  const url = await listening(t, app.listen(0, '127.0.0.1'));
  assert.equal(await (await fetch(url)).text(), 'ok');
  await tasks.app.settle();
  assert.deepEqual(seen.sort(), ['after() on finish: true 2', 'res.after() on close: true 2', 'res.after() on finish: true 2']);
});

test("Fastify: after() and reply.after() in an onResponse hook (Fastify runs it once the response has finished, a hijacked reply's too): each task runs once, with the complete outcome", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.addHook('onResponse', async (request, reply) => {
    after(({ outcome }) => { seen.push(`after() ${request.url}: ${outcome.completed} ${outcome.bytesSent}`); });
    reply.after(({ outcome }) => { seen.push(`reply.after() ${request.url}: ${outcome.completed} ${outcome.bytesSent}`); });
  });
  fastify.get('/', async () => 'ok');
  fastify.get('/hijacked', (_request, reply) => {
    reply.hijack();
    reply.raw.end('by hand');
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());
  const url = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  assert.deepEqual(await statuses(url, ['/', '/hijacked']), [[200, 'ok'], [200, 'by hand']]);
  await fastify.coda.app.settle();
  assert.deepEqual(seen.sort(), ['after() /: true 2', 'after() /hijacked: true 7', 'reply.after() /: true 2', 'reply.after() /hijacked: true 7']);
});

/** `after()` and the per-response registration from a route of a sub-app or router: each notes `label` and the status once its task runs. */
function registering(seen: string[], onResponse: (task: (context: { outcome: Outcome }) => void) => void, label: string): void {
  const note = noting(seen);
  after(note(`${label} after`));
  onResponse(note(`${label} per-response`));
}

test("Fastify's hooks in their order (test/hooks.test.js: onRequest, preHandler, onSend, onResponse), an onSend hook setting the status: the tasks registered in each see the status the client got", { timeout: 10_000 }, async (t) => {
  const order: string[] = [];
  const seen: string[] = [];
  const note = noting(seen);
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  for (const hook of ['onRequest', 'preHandler', 'onResponse'] as const) {
    fastify.addHook(hook, async () => {
      order.push(hook);
      after(note(hook));
    });
  }
  fastify.addHook('onSend', async (_request, reply, payload) => {
    order.push('onSend');
    after(note('onSend'));
    void reply.code(202);
    return payload;
  });
  fastify.get('/', async (_request, reply) => {
    order.push('handler');
    reply.after(note('handler'));
    return 'accepted';
  });
  const response = await listenAndGet(t, fastify);
  assert.deepEqual([response.status, await response.text()], [202, 'accepted']);
  await fastify.coda.app.settle();
  assert.deepEqual(order, ['onRequest', 'preHandler', 'handler', 'onSend', 'onResponse']);
  assert.deepEqual(seen.sort(), ['handler 202', 'onRequest 202', 'onResponse 202', 'onSend 202', 'preHandler 202']);
});

test("Fastify: an async handler that throws after reply.send() (test/async-await.test.js, the reply sent already): the response goes out whole, the tasks see it complete", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const fastify = Fastify({ logger: false });
  await fastify.register(fastifyCoda);
  fastify.get('/', async (_request, reply) => {
    reply.after(({ outcome }) => { seen.resolve(outcome); });
    await reply.send('sent');
    throw new Error('after the send');
  });
  const response = await listenAndGet(t, fastify);
  assert.deepEqual([response.status, await response.text()], [200, 'sent']);
  const outcome = await seen.promise;
  assert.deepEqual([outcome.status, outcome.completed, outcome.bytesSent, outcome.error], [200, true, 4, undefined]);
});

test("Fastify: a route's handlerTimeout (test/handler-timeout.test.js 'route-level errorHandler receives FST_ERR_HANDLER_TIMEOUT'): its error handler, run from Fastify's timer, is code of the request: after() there runs with the 504 it sent (it threw 'after() was called outside a request')", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const release = deferred();
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/', {
    handlerTimeout: 50,
    errorHandler: (error, _request, reply) => {
      after(note(`error handler ${(error as NodeJS.ErrnoException).code}`));
      void reply.code(504).send('timed out');
    },
  }, async () => {
    await release.promise;
    return 'too late';
  });
  const response = await listenAndGet(t, fastify);
  assert.deepEqual([response.status, await response.text()], [504, 'timed out']);
  release.resolve();
  await fastify.coda.app.settle();
  assert.deepEqual(seen, ['error handler FST_ERR_HANDLER_TIMEOUT 504']);
});

test("Fastify: a route's handlerTimeout aborting request.signal (test/handler-timeout.test.js 'request.signal aborts when timeout fires with reason', 'handlerTimeout keeps the connection usable when an abort listener sends the response'): its abort listeners, direct or through AbortSignal.any(), run from Fastify's timer, are code of the request: after() there runs with the 504 a listener sent (it threw 'after() was called outside a request')", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const release = deferred();
  const fastify = Fastify({ handlerTimeout: 50 });
  await fastify.register(fastifyCoda);
  const register = (request: FastifyRequest, where: string) => () => {
    try {
      after(note(`${where} ${(request.signal.reason as NodeJS.ErrnoException).code}`));
    } catch (error) {
      seen.push(`${where}: ${(error as Error).message}`);
    }
  };
  // The route's own onRequest hook too (review: the plugin's hook ran after it, so it got Fastify's signal).
  fastify.get('/', { onRequest: (request, _reply, done) => { request.signal.addEventListener('abort', register(request, 'route onRequest')); done(); } }, async (request, reply) => {
    request.signal.addEventListener('abort', register(request, 'listener'));
    AbortSignal.any([request.signal]).addEventListener('abort', register(request, 'AbortSignal.any()'));
    request.signal.addEventListener('abort', () => { void reply.code(504).send('handled by abort listener'); });
    await release.promise;
  });
  const response = await listenAndGet(t, fastify);
  assert.deepEqual([response.status, await response.text()], [504, 'handled by abort listener']);
  release.resolve();
  await fastify.coda.app.settle();
  assert.deepEqual(seen.sort(), ['AbortSignal.any() FST_ERR_HANDLER_TIMEOUT 504', 'listener FST_ERR_HANDLER_TIMEOUT 504', 'route onRequest FST_ERR_HANDLER_TIMEOUT 504']);
});

test("Fastify: onTimeout hooks (test/hooks.test.js 'onTimeout should be triggered': connectionTimeout, a reply returned unsent), run from the socket's 'timeout', are code of the request: after() there runs with the aborted outcome (it threw 'after() was called outside a request')", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const hooked = deferred<unknown>();
  const fastify = Fastify({ connectionTimeout: 100 });
  await fastify.register(fastifyCoda);
  fastify.addHook('onTimeout', (_request, _reply, done) => {
    try {
      after(({ outcome }) => { seen.push(`onTimeout aborted=${outcome.aborted}`); });
      hooked.resolve(undefined);
    } catch (error) {
      hooked.resolve(error);
    }
    done();
  });
  fastify.get('/timeout', async (_request, reply) => reply);
  await assert.rejects(listenAndGet(t, fastify, '/timeout'));
  assert.equal(await hooked.promise, undefined, 'after() in the onTimeout hook registers');
  await fastify.coda.app.settle();
  assert.deepEqual(seen, ['onTimeout aborted=true']);
});

test("the frameworks' own not-found and error handlers (Fastify's setNotFoundHandler and setErrorHandler, test/404s.test.js and test/500s.test.js; Hono's notFound() and onError(), src/hono.test.ts): code of the request, after() there runs with the status they sent", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const note = noting(seen);
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  fastify.get('/fail', async () => {
    throw new Error('nope');
  });
  fastify.setNotFoundHandler((_request, reply) => {
    after(note('fastify not found'));
    void reply.code(404).send('none');
  });
  fastify.setErrorHandler((error: Error, _request, reply) => {
    after(note(`fastify ${error.message}`));
    void reply.code(502).send('handled');
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());

  const hono = new Hono<{ Bindings: HttpBindings }>();
  const honoTasks = honoCoda();
  hono.use(honoTasks);
  hono.get('/fail', () => {
    throw new Error('nope');
  });
  hono.notFound((c) => {
    after(note('hono not found'));
    return c.text('none', 404);
  });
  hono.onError((error, c) => {
    after(note(`hono ${error.message}`));
    return c.text('handled', 502);
  });

  const urls = [
    `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`,
    await listening(t, honoServe({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }) as Server),
  ];
  for (const url of urls) assert.deepEqual(await statuses(url, ['/missing', '/fail']), [[404, 'none'], [502, 'handled']]);
  await Promise.all([fastify.coda.app, honoTasks.app].map((app) => app.settle()));
  assert.deepEqual(seen.sort(), ['fastify nope 502', 'fastify not found 404', 'hono nope 502', 'hono not found 404']);
});

test("sub-apps and routers under a prefix (Fastify's register({ prefix }) in an encapsulated plugin, test/register.test.js; Koa's nested @koa/router, test/router.test.js; Hono's route(), src/hono.test.ts 'route()'): after() and the per-response registration work in their routes, each task runs once", { timeout: 10_000 }, async (t) => {
  const seen: string[] = [];
  const fastify = Fastify();
  await fastify.register(fastifyCoda);
  await fastify.register(async (child) => {
    child.addHook('onRequest', async () => {});
    child.get('/item', async (_request, reply) => {
      registering(seen, reply.after.bind(reply), 'fastify');
      return 'item';
    });
  }, { prefix: '/v1' });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => fastify.close());

  const koa = new Koa();
  const koaTasks = koaCoda();
  koa.use(koaTasks);
  const api = new Router({ prefix: '/v1' });
  const items = new Router();
  items.get('/item', (ctx) => {
    registering(seen, ctx.after.bind(ctx), 'koa');
    ctx.body = 'item';
  });
  api.use(items.routes());
  koa.use(api.routes());

  const hono = new Hono<{ Bindings: HttpBindings }>();
  const honoTasks = honoCoda();
  hono.use(honoTasks);
  const v1 = new Hono<{ Bindings: HttpBindings }>();
  v1.get('/item', (c) => {
    registering(seen, c.after.bind(c), 'hono');
    return c.text('item');
  });
  hono.route('/v1', v1);

  const urls = [
    `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`,
    await listening(t, koa.listen(0, '127.0.0.1')),
    await listening(t, honoServe({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }) as Server),
  ];
  for (const url of urls) assert.deepEqual(await statuses(url, ['/v1/item']), [[200, 'item']]);
  await Promise.all([fastify.coda.app, koaTasks.app, honoTasks.app].map((app) => app.settle()));
  assert.deepEqual(seen.sort(), ['fastify', 'hono', 'koa'].flatMap((label) => [`${label} after 200`, `${label} per-response 200`]));
});

test("Hono: a sub-app with an onError of its own (route(), src/hono.test.ts 'onError in sub-app'): an error it throws once the head is out is cut as the app's own, with that error", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const failure = new Error('failed in the sub-app');
  const app = new Hono<{ Bindings: HttpBindings }>();
  const tasks = honoCoda();
  app.use(tasks);
  const sub = new Hono<{ Bindings: HttpBindings }>();
  sub.onError((_error, c) => c.text('the sub-app answered', 500));
  sub.get('/late', async (c) => {
    c.after(({ outcome }) => { seen.resolve(outcome); });
    c.env.outgoing.write('partial');
    await Promise.resolve();
    throw failure;
  });
  app.route('/sub', sub);
  const url = await listening(t, honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  const received: string[] = [];
  await assert.rejects(async () => {
    for await (const chunk of await open(`${url}/sub/late`)) received.push(String(chunk));
  }, 'the client sees the response fail, not end as if whole');
  assert.equal(received.join(''), 'partial');
  const outcome = await seen.promise;
  assert.deepEqual([outcome.aborted, outcome.error], [true, failure]);
});
