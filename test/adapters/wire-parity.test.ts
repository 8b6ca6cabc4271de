// Byte for byte: a framework's app with Coda mounted sends what the same app
// sends alone, for the cases of the frameworks' own suites (Express
// test/res.send.js, res.json, res.redirect, res.sendFile, app.router's error
// handlers and final handler; Fastify test/hooks.test.js onSend, reply.hijack,
// setErrorHandler, its 404 and HEAD routes; Koa
// test/application/respond.test.js: string, buffer, stream and null bodies,
// 204/304 stripped, HEAD, ctx.respond = false, ctx.throw; Hono on
// @hono/node-server: c.body(null, 204), a ReadableStream, notFound, onError,
// HEAD), every request registering an after() task, then a durable task
// (which holds the response until it is journaled: first-byte-gate.ts). Each
// task sees the outcome the client got: the status on the wire, complete,
// the bytes of its body.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { after, sqliteStore, task, type App, type Outcome } from 'coda-http';
import { coda as expressCoda, type Adapter, type AdapterOptions } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda } from 'coda-http/hono';
import { coda as koaCoda } from 'coda-http/koa';
import { parseResponse } from '../helpers.js';
import { pipelined, responses } from '../transport/wire.js';

/** A request's key (`GET /x`) and the outcome its task saw. */
type Seen = [string, Pick<Outcome, 'status' | 'completed' | 'aborted' | 'bytesSent'> & { failed: boolean }];

/** One framework's app, started with Coda's adapter (given its options) or alone; `note(key)` registers the run's task for the request. */
interface Framework {
  name: string;
  /** The raw requests, sent pipelined on connections of a few each (see `connections`). */
  requests: string[];
  /** Requests whose response the framework cuts (a body stream that fails), each on a connection of its own. */
  cut: string[];
  start(coda: AdapterOptions | undefined, note: (key: string) => void): Promise<{ port: number; app?: App; close(): Promise<unknown> }>;
}

function raw(method: string, target: string, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return lines.join('\r\n') + '\r\n\r\n';
}

/** `requests` on connections of up to 8 (wire.ts's responses() reads up to 16 a connection), each followed by `/last`, which closes it. */
function connections(requests: string[]): string[][] {
  const batches: string[][] = [];
  for (let at = 0; at < requests.length; at += 8) batches.push([...requests.slice(at, at + 8), raw('GET', '/last', { Connection: 'close' })]);
  return batches;
}

const methodOf = (request: string): string => request.slice(0, request.indexOf(' '));
const keyOf = (request: string): string => request.slice(0, request.indexOf(' HTTP/1.'));

/** The bytes a run received, its Date headers (the one thing that differs between runs) blanked. */
const undated = (bytes: Buffer): string => bytes.toString('latin1').replace(/^date: [^\r]*\r$/gim, 'Date: -\r');

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => {
    const port = (): void => resolve((server.address() as AddressInfo).port);
    if (server.listening) port();
    else server.once('listening', port);
  });
}

/** A Node server started by the framework, closed under the adapter's drain when Coda is mounted. */
async function nodeServer(server: Server, adapter?: Adapter) {
  const port = await listening(server);
  const attached = adapter?.attach(server, { handleSignals: false });
  const close = (): Promise<unknown> => attached?.close({ timeoutMs: 2000 }) ?? new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); });
  return { port, app: adapter?.app, close };
}

/** A body stream that fails before its first chunk: Express (given the error) and Fastify still answer with an error response. */
function failing(): Readable {
  // A fixed stack: Express's error page shows it.
  return new Readable({ read() { this.destroy(Object.assign(new Error('failed before its first chunk'), { stack: 'Error: failed before its first chunk' })); } });
}

/**
 * A body written by hand past the high-water mark, each write() that says so
 * waiting for 'drain' (a HEAD's says it never: Node takes nothing there).
 */
async function writeLarge(res: ServerResponse): Promise<void> {
  for (let i = 0; i < 8; i++) {
    if (!res.write(Buffer.alloc(64 * 1024, 97 + i))) await once(res, 'drain');
  }
  res.end();
}

/** A body stream that fails once its first chunk is out. */
async function* midway(): AsyncIterable<Buffer> {
  yield Buffer.from('the part before ');
  await new Promise((resolve) => setImmediate(resolve));
  throw new Error('failed midway');
}
const failingMidway = (): Readable => Readable.from(midway());

const FILE_TEXT = 'a file sent by the framework\n';

function expressApp(file: string): Framework {
  return {
    name: 'Express',
    requests: [
      raw('GET', '/send'), raw('HEAD', '/send'), raw('GET', '/send', { 'If-None-Match': '"v1"' }),
      raw('GET', '/buffer'), raw('GET', '/null'), raw('GET', '/json'), raw('GET', '/no-content'),
      raw('GET', '/redirect', { Accept: 'text/html' }), raw('HEAD', '/redirect'), raw('GET', '/file'),
      raw('GET', '/file', { Range: 'bytes=2-5' }), raw('HEAD', '/file'),
      raw('GET', '/file', { 'If-Modified-Since': 'Wed, 15 Nov 2023 00:00:00 GMT' }), raw('GET', '/no-file'),
      raw('GET', '/not-modified'), raw('GET', '/send-status'), raw('GET', '/written'), raw('GET', '/ended'),
      raw('GET', '/failing'), raw('GET', '/written-large'), raw('HEAD', '/written-large'),
      raw('GET', '/teapot'), raw('GET', '/missing'), raw('GET', '/final-error'),
    ],
    cut: [raw('GET', '/piped-failing'), raw('GET', '/failing-midway')],
    async start(options, note) {
      const app = express();
      // Express's final handler prints the errors it is given unless in 'test'.
      app.set('env', 'test');
      const adapter = options === undefined ? undefined : expressCoda(options);
      if (adapter !== undefined) app.use(adapter);
      app.use((req, _res, next) => { note(`${req.method} ${req.url}`); next(); });
      app.get('/send', (_req, res) => { res.set('ETag', '"v1"').send('<p>hello</p>'); });
      app.get('/buffer', (_req, res) => { res.send(Buffer.from('some bytes')); });
      app.get('/null', (_req, res) => { res.send(null); });
      app.get('/json', (_req, res) => { res.json({ user: 'tobi', n: [1, 2] }); });
      app.get('/no-content', (_req, res) => { res.status(204).set('Content-Type', 'text/plain').send('stripped'); });
      app.get('/redirect', (_req, res) => { res.redirect('/there?a=<b>'); });
      app.get('/file', (_req, res) => { res.sendFile(file); });
      app.get('/no-file', (_req, res) => { res.sendFile(`${file}.absent`); });
      app.get('/not-modified', (_req, res) => { res.status(304).send('stripped'); });
      app.get('/send-status', (_req, res) => { res.sendStatus(201); });
      app.get('/written', (_req, res) => {
        res.write('by ');
        res.end('hand');
      });
      app.get('/ended', (_req, res) => { res.end(); });
      app.get('/written-large', (_req, res) => writeLarge(res));
      // pipe(), not pipeline(), which would destroy the response: Express's final handler answers the failure.
      app.get('/failing', (_req, res, next) => { failing().on('error', next).pipe(res); });
      // pipeline() destroys the response with the failure.
      app.get('/piped-failing', (_req, res) => { pipeline(failing(), res, () => {}); });
      app.get('/failing-midway', (_req, res) => { pipeline(failingMidway(), res, () => {}); });
      app.get('/teapot', (_req, _res, next) => { next(Object.assign(new Error('short and stout'), { status: 418 })); });
      // Its page shows the stack: a fixed one, the same whatever called the route.
      app.get('/final-error', () => { throw Object.assign(new Error('to the final handler'), { stack: 'Error: to the final handler' }); });
      app.get('/last', (_req, res) => { res.send('last'); });
      app.use((error: Error & { status?: number }, req: express.Request, res: express.Response, next: express.NextFunction) => {
        if (req.url !== '/teapot') return next(error);
        res.status(error.status ?? 500).send(`handled: ${error.message}`);
      });
      return nodeServer(app.listen(0, '127.0.0.1'), adapter);
    },
  };
}

const fastifyApp: Framework = {
  name: 'Fastify',
  requests: [
    raw('GET', '/send'), raw('HEAD', '/send'), raw('GET', '/json'), raw('GET', '/no-content'),
    raw('GET', '/stream'), raw('GET', '/on-send'), raw('HEAD', '/stream'), raw('GET', '/not-modified'),
    raw('GET', '/redirect'), raw('HEAD', '/missing'), raw('GET', '/hijack'), raw('GET', '/handled'),
    raw('GET', '/missing'), raw('GET', '/failing'),
  ],
  cut: [raw('GET', '/failing-midway')],
  async start(options, note) {
    const fastify = Fastify();
    if (options !== undefined) await fastify.register(fastifyCoda, options);
    fastify.addHook('onRequest', async (request) => { note(`${request.method} ${request.url}`); });
    fastify.addHook('onSend', async (request, reply, payload) => {
      if (request.url !== '/on-send') return payload;
      void reply.header('x-on-send', 'yes').code(201);
      return `rewritten by onSend: ${String(payload)}`;
    });
    fastify.get('/send', async () => '<p>hello</p>');
    fastify.get('/json', async () => ({ user: 'tobi', n: [1, 2] }));
    fastify.get('/no-content', async (_request, reply) => reply.code(204).send());
    fastify.get('/stream', async (_request, reply) => reply.type('text/plain').send(Readable.from(['one ', 'two ', 'three'])));
    fastify.get('/on-send', async () => 'the handler');
    fastify.get('/failing', async (_request, reply) => reply.send(failing()));
    fastify.get('/failing-midway', async (_request, reply) => reply.send(failingMidway()));
    fastify.get('/not-modified', async (_request, reply) => reply.code(304).send('stripped'));
    fastify.get('/redirect', async (_request, reply) => reply.redirect('/there?a=<b>'));
    fastify.get('/hijack', async (_request, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      reply.raw.write('by ');
      reply.raw.end('hand');
    });
    fastify.get('/handled', async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }); });
    fastify.setErrorHandler(async (error: Error, _request, reply) => reply.code(418).send({ handled: error.message }));
    fastify.get('/last', async () => 'last');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return { port: (fastify.server.address() as AddressInfo).port, app: options === undefined ? undefined : fastify.coda.app, close: () => fastify.close() };
  },
};

const honoApp: Framework = {
  name: 'Hono',
  requests: [
    raw('GET', '/text'), raw('HEAD', '/text'), raw('GET', '/json'), raw('GET', '/no-content'),
    raw('GET', '/stream'), raw('HEAD', '/stream'), raw('GET', '/not-modified'), raw('GET', '/redirect'),
    raw('GET', '/teapot'), raw('GET', '/missing'),
  ],
  cut: [raw('GET', '/failing'), raw('GET', '/failing-midway')],
  async start(options, note) {
    const app = new Hono<{ Bindings: HttpBindings }>();
    const adapter = options === undefined ? undefined : honoCoda(options);
    if (adapter !== undefined) app.use(adapter);
    app.use(async (c, next) => {
      note(`${c.req.method} ${new URL(c.req.url).pathname}`);
      await next();
    });
    app.get('/text', (c) => c.text('hello'));
    app.get('/json', (c) => c.json({ user: 'tobi', n: [1, 2] }));
    app.get('/no-content', (c) => c.body(null, 204));
    app.get('/stream', (c) => c.body(ReadableStream.from([new TextEncoder().encode('one '), new TextEncoder().encode('two')]) as ReadableStream<Uint8Array>));
    app.get('/redirect', (c) => c.redirect('/there'));
    app.get('/not-modified', (c) => c.body(null, 304));
    app.get('/failing', (c) => c.body(Readable.toWeb(failing()) as ReadableStream<Uint8Array>));
    app.get('/failing-midway', (c) => c.body(Readable.toWeb(failingMidway()) as ReadableStream<Uint8Array>));
    app.get('/teapot', () => { throw new Error('short and stout'); });
    app.onError((error, c) => c.text(`handled: ${error.message}`, 418));
    app.get('/last', (c) => c.text('last'));
    return nodeServer(honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server, adapter);
  },
};

const koaApp: Framework = {
  name: 'Koa',
  requests: [
    raw('GET', '/string'), raw('HEAD', '/string'), raw('GET', '/string', { 'If-None-Match': '"v1"' }),
    raw('GET', '/buffer'), raw('GET', '/stream'), raw('HEAD', '/stream'), raw('GET', '/null'),
    raw('HEAD', '/null'), raw('GET', '/no-content'), raw('GET', '/not-modified'), raw('GET', '/json'),
    raw('GET', '/redirect', { Accept: 'text/html' }), raw('GET', '/by-hand'), raw('GET', '/teapot'),
    raw('GET', '/by-hand-large'), raw('HEAD', '/by-hand-large'),
    raw('GET', '/missing'),
  ],
  cut: [raw('GET', '/failing'), raw('GET', '/failing-midway')],
  async start(options, note) {
    const app = new Koa();
    app.silent = true;
    const adapter = options === undefined ? undefined : koaCoda(options);
    if (adapter !== undefined) app.use(adapter);
    app.use(async (ctx, next) => {
      note(`${ctx.method} ${ctx.url}`);
      await next();
    });
    app.use(async (ctx) => {
      switch (ctx.path) {
        case '/string':
          ctx.set('ETag', '"v1"');
          ctx.body = '<p>hello</p>';
          // Koa leaves freshness to its middleware (koa-conditional-get): this is what it does.
          if (ctx.fresh) ctx.status = 304;
          break;
        case '/buffer': ctx.body = Buffer.from('some bytes'); break;
        case '/stream': ctx.type = 'text/plain'; ctx.body = Readable.from(['one ', 'two ', 'three']); break;
        case '/null': ctx.body = null; break;
        case '/no-content': ctx.body = 'stripped'; ctx.status = 204; break;
        case '/not-modified': ctx.body = 'stripped'; ctx.status = 304; break;
        case '/failing': ctx.body = failing(); break;
        case '/failing-midway': ctx.body = failingMidway(); break;
        case '/json': ctx.body = { user: 'tobi', n: [1, 2] }; break;
        case '/redirect': ctx.redirect('/there?a=<b>'); break;
        case '/by-hand':
          ctx.respond = false;
          ctx.res.writeHead(200, { 'content-type': 'text/plain' });
          ctx.res.write('by ');
          ctx.res.end('hand');
          break;
        case '/by-hand-large':
          ctx.respond = false;
          await writeLarge(ctx.res);
          break;
        case '/teapot': ctx.throw(418, 'short and stout'); break;
        case '/last': ctx.body = 'last'; break;
      }
    });
    return nodeServer(app.listen(0, '127.0.0.1'), adapter);
  },
};

/** Runs `framework`'s requests once: the bytes received, and the outcomes its tasks saw once all have run. */
async function run(t: TestContext, framework: Framework, how: 'alone' | 'after' | 'durable', batches: string[][]): Promise<{ bytes: Buffer[]; seen: Seen[] }> {
  const seen: Seen[] = [];
  let allSeen!: () => void;
  const done = new Promise<void>((resolve) => { allSeen = resolve; });
  const record = (key: string, { status, completed, aborted, bytesSent, error }: Outcome): void => {
    seen.push([key, { status, completed, aborted, bytesSent, failed: error !== undefined }]);
    if (seen.length === batches.flat().length) allSeen();
  };
  const parity = task('parity', (payload: { key: string }, ctx) => { record(payload.key, ctx.outcome!); });
  let options: AdapterOptions | undefined;
  let note = (_key: string): void => {};
  if (how === 'after') {
    options = {};
    note = (key) => { after(({ outcome }) => { record(key, outcome); }, { name: 'parity' }); };
  } else if (how === 'durable') {
    const dir = mkdtempSync(path.join(tmpdir(), 'coda-parity-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    options = { tasks: { definitions: [parity], store: sqliteStore({ path: path.join(dir, 'tasks.db') }) } };
    note = (key) => { void after(parity, { key }); };
  }
  const started = await framework.start(options, note);
  try {
    const bytes: Buffer[] = [];
    for (const batch of batches) bytes.push(await pipelined({ port: started.port } as Parameters<typeof pipelined>[0], batch));
    if (how !== 'alone') await done;
    return { bytes, seen };
  } finally {
    await started.close();
  }
}

/** Outcomes in one order whichever order their tasks ran in. */
const sorted = (seen: Seen[]): Seen[] => seen.toSorted((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

function frameworks(t: TestContext): Framework[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-parity-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'page.txt');
  writeFileSync(file, FILE_TEXT);
  // A fixed mtime: Last-Modified and the ETag send derives from it are the same in every run.
  utimesSync(file, 1_700_000_000, 1_700_000_000);
  return [expressApp(file), fastifyApp, koaApp, honoApp];
}

/**
 * Runs `batches` alone, then with an after() task and with a durable one, and
 * asserts the same bytes each time, every response complete and its task's
 * outcome the status and body on the wire.
 */
async function sameAsAlone(t: TestContext, framework: Framework, batches: string[][]): Promise<void> {
  const alone = await run(t, framework, 'alone', batches);
  const expected = sorted(batches.flatMap((batch, n) => {
    const { list, rest } = responses(alone.bytes[n]!, batch.map(methodOf));
    assert.deepEqual([list.length, rest.length], [batch.length, 0], `every request answered alone, one by one: ${undated(alone.bytes[n]!)}`);
    return list.map((response, i): Seen => [keyOf(batch[i]!), {
      status: response.status, completed: true, aborted: false, bytesSent: methodOf(batch[i]!) === 'HEAD' ? 0 : response.body.length, failed: false,
    }]);
  }));
  for (const how of ['after', 'durable'] as const) {
    const { bytes, seen } = await run(t, framework, how, batches);
    assert.deepEqual(bytes.map(undated), alone.bytes.map(undated), `${how}: the same bytes`);
    assert.deepEqual(sorted(seen), expected, `${how}: each task saw its response`);
  }
}

for (const name of ['Express', 'Fastify', 'Koa', 'Hono']) {
  test(`${name} with Coda sends byte for byte what it sends alone, a task registered in every request (after(), then a durable task); each task sees the status on the wire, complete, its body's bytes`, { timeout: 30_000 }, async (t) => {
    const framework = frameworks(t).find((f) => f.name === name)!;
    await sameAsAlone(t, framework, connections(framework.requests));
  });

  test(`${name} with Coda answers HTTP/1.0 requests byte for byte as alone (no chunks: a body of unknown length ends with the connection), each on a connection of its own; each task sees its response complete`, { timeout: 30_000 }, async (t) => {
    const framework = frameworks(t).find((f) => f.name === name)!;
    await sameAsAlone(t, framework, framework.requests.map((request) => [request.replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n')]));
  });
}

for (const name of ['Express', 'Fastify', 'Koa', 'Hono']) {
  test(`${name} with Coda cuts a response whose body stream fails as it cuts it alone, byte for byte (after(), then a durable task); each task sees it failed, not complete, with the status and bytes the client got`, { timeout: 30_000 }, async (t) => {
    const framework = frameworks(t).find((f) => f.name === name)!;
    const batches = framework.cut.map((request) => [request]);
    const alone = await run(t, framework, 'alone', batches);
    const expected = sorted(batches.map(([request], n): Seen => {
      const bytes = alone.bytes[n]!;
      // The head went out (then the part before the failure), or nothing did: then the status is the one the framework had set.
      const sent = bytes.includes('\r\n\r\n') ? parseResponse(bytes) : undefined;
      return [keyOf(request!), { status: sent?.status ?? 200, completed: false, aborted: true, bytesSent: sent?.body.length ?? 0, failed: true }];
    }));
    for (const how of ['after', 'durable'] as const) {
      const { bytes, seen } = await run(t, framework, how, batches);
      assert.deepEqual(bytes.map(undated), alone.bytes.map(undated), `${how}: the same bytes`);
      assert.deepEqual(sorted(seen), expected, `${how}: each task saw its response fail`);
    }
  });
}
