// Pipelined HTTP/1.1 requests run one at a time (src/server/pipelining.ts
// serveInTurn): a request queued behind another's response starts only once
// that response has gone out, and never if the connection closes first. RFC
// 9112 9.6: a server that sends "close" must not process further requests;
// node:http ran them at once and then dropped their answers. Over a raw
// socket, against serve() on 127.0.0.1 port 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Http2SecureServer } from 'node:http2';
import tls from 'node:tls';
import { setImmediate } from 'node:timers/promises';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { after, createApp, get, HttpResponse, post, serve, StreamingResponse, type App, type Server } from 'coda-http';
import { selfSigned } from './certificate.js';
import { connect, deferred, memoryLogger, startServer, type LogLine } from '../helpers.js';
import { pipelined, request, responses, untilHead } from '../transport/wire.js';

/** An app whose POST /close answers with `Connection: close` and whose POST /count counts its views. */
function closingApp(registry?: Registry): { app: App; counted: () => number; lines: LogLine[] } {
  let count = 0;
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    ...(registry === undefined ? {} : { metrics: { registry, defaultMetrics: false } }),
    routes: [
      // Async, as most views: the request behind is parsed (and was run) while it works.
      post('/close', async () => {
        await setImmediate();
        return new HttpResponse('closing', { headers: { connection: 'close' } });
      }),
      post('/count', () => new HttpResponse(String(++count))),
    ],
  });
  return { app, counted: () => count, lines };
}

/** Requests the server refuses before the app, each pipelined behind another: the refusal is owed only when its turn comes. */
const REFUSED = [
  ['more header fields than the server accepts (431)', 431, `POST /count HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 1_000 }, (_, i) => `x-f${i}: v\r\n`).join('')}\r\n`],
  ['an HTTP/0.9 request line (400)', 400, 'GET /count HTTP/0.9\r\n\r\n'],
  ['a coding before chunked (501)', 501, 'POST /count HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
] as const;

/** The access log's refusals ("request refused before the app: …"), by status. */
function refusals(lines: LogLine[]): unknown[] {
  return lines.filter((line) => line.msg?.startsWith('request refused before the app') === true).map((line) => line.status);
}

test('a request pipelined behind a view\'s Connection: close never runs: the client reads that one answer, then EOF', async (t) => {
  const { app, counted, lines } = closingApp();
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const raw = await pipelined(server, [request('/close', { method: 'POST' }), request('/count', { method: 'POST' })]);
  const { list, rest } = responses(raw);
  assert.deepEqual(list.map((r) => [r.status, r.headers.connection, r.body.toString()]), [[200, 'close', 'closing']], raw.toString('latin1'));
  assert.equal(rest.length, 0, 'nothing after the one answer');
  assert.equal(counted(), 0, 'the pipelined POST was not processed');
  await app.settle();
  assert.equal(app.requestsInFlight, 0);
  // Neither served nor refused: the access log has no line for it (it had one, "client went away", though its view ran).
  assert.deepEqual(lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('POST')).map((line) => line.msg!.split(' ').slice(0, 3).join(' ')), ['POST /close 200']);
});

/** Sends `requests` pipelined on one HTTP/1.1 connection to an HTTP/2 server (TLS, ALPN http/1.1) and reads until it closes. */
async function pipelinedOverTls(port: number, cert: string, requests: string[]): Promise<Buffer> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, 'close');
  socket.write(requests.join(''));
  await closed;
  return Buffer.concat(chunks);
}

test('on the HTTP/2 port, an HTTP/1.1 request pipelined behind a Connection: close never runs either, nor is one the server would refuse counted', async (t) => {
  const { key, cert } = selfSigned();
  const { app, counted, lines } = closingApp();
  const server: Server<Http2SecureServer> = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  for (const behind of [request('/count', { method: 'POST' }), REFUSED[0][2]]) {
    const { list, rest } = responses(await pipelinedOverTls(server.port, cert, [request('/close', { method: 'POST' }), behind]));
    assert.deepEqual(list.map((r) => r.body.toString()), ['closing']);
    assert.equal(rest.length, 0);
  }
  assert.equal(counted(), 0, 'the pipelined POST was not processed');
  await app.settle();
  assert.deepEqual(refusals(lines), [], 'no refusal recorded for a request never answered');
});

test('a request pipelined behind a chunked body Coda closes for (the answer went out before the body arrived) never runs', async (t) => {
  let counted = 0;
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      // The head goes out at once (the body unread: Connection: close); the stream ends once the body, and the request behind it, have arrived.
      post('/upload', (req) => new StreamingResponse(async function* () {
        yield 'head sent; ';
        yield `read ${(await req.bytes()).length}`;
      })),
      post('/count', () => new HttpResponse(String(++counted))),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const socket = await connect(server);
  socket.on('error', () => {});
  const { head, received } = untilHead(socket);
  const closed = once(socket, 'close');
  socket.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
  await head;
  socket.write('0\r\n\r\n' + request('/count', { method: 'POST' }));
  await closed;
  const raw = Buffer.concat(received);
  const { list, rest } = responses(raw);
  assert.equal(list.length, 1, raw.toString('latin1'));
  assert.equal(list[0]!.headers.connection, 'close');
  assert.equal(rest.length, 0);
  assert.equal(counted, 0, 'the pipelined POST was not processed');
  await app.settle();
});

test('ten pipelined requests to a view that waits: one view at a time, all ten answered in order, each task run once', async (t) => {
  const starts = Array.from({ length: 10 }, () => deferred());
  const gates = Array.from({ length: 10 }, () => deferred());
  let running = 0;
  let most = 0;
  const tasks: string[] = [];
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [get('/n/:i', async (req) => {
      const i = Number(req.params.i);
      running++;
      most = Math.max(most, running);
      after(() => void tasks.push(req.params.i!));
      starts[i]!.resolve();
      await gates[i]!.promise;
      running--;
      return new HttpResponse(`n${i}`);
    })],
  });
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const answered = pipelined(server, Array.from({ length: 10 }, (_, i) => request(`/n/${i}`, { close: i === 9 })));
  // Each view is let answer once it has started: the next one starts only after that answer went out.
  for (const [i, start] of starts.entries()) {
    await start.promise;
    gates[i]!.resolve();
  }
  const { list } = responses(await answered);
  await app.settle();
  assert.deepEqual(list.map((r) => r.body.toString()), Array.from({ length: 10 }, (_, i) => `n${i}`));
  assert.equal(most, 1, 'at most one view ran at a time');
  assert.deepEqual(tasks, Array.from({ length: 10 }, (_, i) => String(i)), 'each task ran once, in order');
});

test('pipelined requests whose client leaves while the one ahead is in its view never run, and nothing is left in flight', async (t) => {
  const started = deferred();
  const release = deferred();
  let counted = 0;
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/slow', async () => {
        started.resolve();
        await release.promise;
        return new HttpResponse('late');
      }),
      get('/count', () => new HttpResponse(String(++counted))),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const socket = await connect(server);
  socket.on('error', () => {});
  const left = once(socket, 'close');
  socket.write(request('/slow') + request('/count') + request('/count'));
  await started.promise;
  socket.destroy();
  await left;
  release.resolve();
  await app.settle();
  assert.equal(counted, 0, 'the requests behind never ran');
  assert.equal(app.requestsInFlight, 0);
});

test('a request the server would refuse, pipelined behind a view\'s Connection: close, is neither answered nor counted as refused', async (t) => {
  for (const [name, , refusedRequest] of REFUSED) {
    const registry = new Registry();
    const { app, counted, lines } = closingApp(registry);
    const server = await startServer(app);
    t.after(() => server.close({ timeoutMs: 1_000 }));
    const raw = await pipelined(server, [request('/close', { method: 'POST' }), refusedRequest]);
    const { list, rest } = responses(raw);
    assert.deepEqual(list.map((r) => [r.status, r.body.toString()]), [[200, 'closing']], `${name}: ${raw.toString('latin1')}`);
    assert.equal(rest.length, 0, `${name}: nothing after the one answer`);
    assert.equal(counted(), 0, name);
    await app.settle();
    assert.deepEqual(refusals(lines), [], `${name}: no refusal recorded for a request never answered`);
    assert.doesNotMatch(await registry.metrics(), /^coda_requests_refused_total\{/m, name);
  }
});

test('a request the server refuses, pipelined behind a keep-alive answer, is answered after it, in order, and counted once', async (t) => {
  for (const [name, status, refusedRequest] of REFUSED) {
    const { app, lines } = closingApp();
    const server = await startServer(app);
    t.after(() => server.close({ timeoutMs: 1_000 }));
    const raw = await pipelined(server, [request('/count', { method: 'POST' }), refusedRequest]);
    const { list, rest } = responses(raw);
    assert.deepEqual(list.map((r) => [r.status, r.headers.connection]), [[200, 'keep-alive'], [status, 'close']], `${name}: ${raw.toString('latin1')}`);
    assert.equal(list[0]!.body.toString(), '1', name);
    assert.equal(rest.length, 0, name);
    await app.settle();
    assert.deepEqual(refusals(lines), [status], name);
  }
});
