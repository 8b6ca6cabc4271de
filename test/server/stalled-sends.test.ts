// serve()'s sendTimeoutMs (attach()'s too): a client that takes none of its response for that
// long loses its connection (the exchange ends aborted, its task runs, a
// warning names the request); a client that reads slowly but steadily, one
// large write taking many times the timeout, is never cut; nor is a stream
// with nothing to send. Real sockets: the kernel's buffers are the point.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import express from 'express';
import { after, createApp, get, HttpResponse, StreamingResponse, type App, type Outcome, type Server } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import type { Logger } from 'pino';
import { attach } from '../../src/server/attach.js';
import { connect, LEVEL, memoryLogger, started, startServer, type LogLine } from '../helpers.js';
import { request } from '../transport/wire.js';
import { selfSigned } from './certificate.js';

const TIMEOUT_MS = 300;
// Past what the kernel buffers on both sides of a loopback connection.
const BIG = 32 * 1024 * 1024;

let server: Server;
let app: App;
let logger: Logger;
let lines: LogLine[];
/** Per request path, what its after() task hands its outcome to. */
const taskRan = new Map<string, (outcome: Outcome) => void>();
let releaseStream: () => void = () => {};

/** Resolves with the outcome of the request to `path`, once its after() task has run. */
function outcomeOf(path: string): Promise<Outcome> {
  return new Promise((resolve) => taskRan.set(path, resolve));
}

started(async () => {
  const log = memoryLogger();
  lines = log.lines;
  logger = log.logger;
  app = createApp({
    logger,
    routes: [
      get('/big/:name', (request) => {
        after(({ outcome }) => taskRan.get(request.path)?.(outcome));
        return new HttpResponse(body);
      }),
      // HTTP/2 flow control holds what a client takes: a window's worth, not the kernel's buffers.
      get('/mb/:name', (request) => {
        after(({ outcome }) => taskRan.get(request.path)?.(outcome));
        return new HttpResponse(body.subarray(0, 1024 * 1024));
      }),
      get('/block', () => {
        const until = performance.now() + 3 * TIMEOUT_MS;
        while (performance.now() < until);
        return new HttpResponse('held up');
      }),
      get('/quiet', () => new StreamingResponse((async function* () {
        yield 'first\n';
        await new Promise<void>((resolve) => { releaseStream = resolve; });
        yield 'second\n';
      })())),
    ],
  });
  return server = await startServer(app, { sendTimeoutMs: TIMEOUT_MS });
}, (server) => server.close({ timeoutMs: 1_000 }));

const body = Buffer.alloc(BIG, 0x61);

/** Asks `target` for a 32 MB answer on a connection whose client reads nothing, and checks what the server did about it. */
async function readNothing(target: { readonly server: { readonly listening: boolean } }, path: string, open: () => Promise<Duplex>): Promise<void> {
  const client = await open();
  client.on('error', () => {});
  client.pause();
  const ran = outcomeOf(path);
  const sentAt = performance.now();
  client.write(request(path));
  const closed = new Promise((resolve) => client.once('close', resolve));
  const outcome = await ran;
  assert.ok(performance.now() - sentAt >= TIMEOUT_MS, 'not before the timeout');
  assert.equal(outcome.aborted, true);
  assert.equal(outcome.completed, false);
  assert.equal(outcome.cutOff, 'its client took none of the response for 300 ms (sendTimeoutMs)', 'the server ended it, and says why');
  // A paused socket learns of the close only when it reads again.
  client.resume();
  await closed;
  const warning = lines.find((line) => line.url === path);
  assert.ok(warning !== undefined, 'a warning names the request');
  assert.equal(warning.level, LEVEL.warn);
  assert.equal(warning.method, 'GET');
  assert.equal(warning.sendTimeoutMs, TIMEOUT_MS);
  assert.ok((warning.pendingBytes as number) > 0);
  assert.match(warning.msg!, /took none of the response for 300 ms/);
  assert.equal(target.server.listening, true);
}

test('a client that reads nothing of a 32 MB answer loses its connection after sendTimeoutMs; the exchange is aborted, its task runs, a warning names it', { timeout: 10_000 }, async () => {
  await readNothing(server, '/big/paused', () => connect(server));
});

test('the same over TLS, and over HTTP/1.1 on the HTTP/2 port', { timeout: 20_000 }, async () => {
  const { key, cert } = selfSigned();
  for (const http2 of [false, true]) {
    const secure = await startServer(app, { tls: { key, cert }, http2, sendTimeoutMs: TIMEOUT_MS });
    try {
      await readNothing(secure, `/big/tls-${http2 ? 'h2-port' : 'https'}`, () => new Promise((resolve, reject) => {
        const socket = tlsConnect({ port: secure.port, host: '127.0.0.1', ca: cert, ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
        socket.once('error', reject);
      }));
    } finally {
      await secure.close({ timeoutMs: 1_000 });
    }
  }
});

test('attach(): the same on a server Express started', { timeout: 10_000 }, async () => {
  const tasks = expressCoda({ logger });
  const web = express();
  web.use(tasks);
  web.get('/big/express', (req, res) => {
    res.after(({ outcome }) => taskRan.get(req.path)?.(outcome));
    res.send(body);
  });
  const started = web.listen(0, '127.0.0.1');
  const attached = tasks.attach(started, { handleSignals: false, sendTimeoutMs: TIMEOUT_MS });
  await once(started, 'listening');
  try {
    await readNothing(attached, '/big/express', async () => {
      const socket = netConnect((started.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    });
  } finally {
    await attached.close({ timeoutMs: 1_000 });
  }
});

/** The status of a HEAD of `path` on `session`, and the length of the body that came with it (none). */
async function head(session: http2.ClientHttp2Session, path: string): Promise<[unknown, number]> {
  const stream = session.request({ ':method': 'HEAD', ':path': path });
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) length += chunk.length;
  return [headers[':status'], length];
}

test('attach() on an h2c server (http2.createServer()): a stream whose client gives it no window is reset (CANCEL) by the sweep, its session serving on; a session idle for longer than sendTimeoutMs is not cut (the sweep watches the raw connections too, whose output node:http2 writes past them)', { timeout: 10_000 }, async () => {
  const h2c = http2.createServer(app.handler).listen(0, '127.0.0.1');
  await once(h2c, 'listening');
  const attached = attach(app, h2c, { handleSignals: false, sendTimeoutMs: TIMEOUT_MS });
  const url = `http://127.0.0.1:${(h2c.address() as AddressInfo).port}`;
  const idle = http2.connect(url);
  const stalled = http2.connect(url, { settings: { initialWindowSize: 0 } });
  try {
    const connectionsClosed = (): number => lines.filter((line) => String(line.msg).startsWith('connection closed')).length;
    const closedBefore = connectionsClosed();
    assert.deepEqual(await head(idle, '/mb/h2c-idle'), [200, 0]);
    const ran = outcomeOf('/mb/h2c');
    const stream = stalled.request({ ':path': '/mb/h2c' });
    stream.on('error', () => {});
    const sentAt = performance.now();
    await once(stream, 'close');
    assert.ok(performance.now() - sentAt >= TIMEOUT_MS, 'not before the timeout');
    assert.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.deepEqual(await ran.then((outcome) => [outcome.aborted, outcome.completed]), [true, false]);
    const warning = lines.find((line) => line.url === '/mb/h2c');
    assert.match(String(warning?.msg), /^HTTP\/2 stream reset: its client took none of the response for 300 ms/);
    // Both sessions outlived the timeout under the sweep, and serve on.
    assert.deepEqual(await head(stalled, '/mb/h2c-after'), [200, 0]);
    assert.deepEqual(await head(idle, '/mb/h2c-idle-after'), [200, 0]);
    assert.equal(connectionsClosed(), closedBefore, 'no connection of the h2c server closed');
  } finally {
    stalled.destroy();
    idle.close();
    await attached.close({ timeoutMs: 1_000 });
  }
});

/** Reads a connection 64 KiB at a time, pausing after each (about ten times slower than the server writes), until it ends; `onChunk` after each. */
async function readSteadily(client: Duplex, onChunk: (received: number) => void = () => {}): Promise<number> {
  let received = 0;
  for await (const chunk of client as AsyncIterable<Buffer>) {
    received += chunk.length;
    onChunk(received);
    client.pause();
    await sleep(2);
    client.resume();
  }
  return received;
}

test('a client that reads slowly but steadily gets every byte, though the one write of its answer takes many times sendTimeoutMs', { timeout: 30_000 }, async () => {
  const client = await connect(server);
  const ran = outcomeOf('/big/steady');
  const startedAt = performance.now();
  client.write(request('/big/steady', { close: true }));
  const received = await readSteadily(client);
  const outcome = await ran;
  assert.ok(performance.now() - startedAt > 2 * TIMEOUT_MS, 'the answer took longer than the timeout to read');
  assert.ok(received > BIG, `got ${received} bytes`);
  assert.equal(outcome.completed, true);
  assert.equal(outcome.aborted, false);
  assert.equal(outcome.bytesSent, BIG);
  assert.equal(lines.filter((line) => line.url === '/big/steady').length, 0, 'no warning');
});

test('the server held up for three times sendTimeoutMs (a view that blocks the event loop) does not cut a client that was reading', { timeout: 30_000 }, async () => {
  const client = await connect(server);
  const ran = outcomeOf('/big/held-up');
  client.write(request('/big/held-up', { close: true }));
  let blocked: Promise<unknown> | undefined;
  const received = await readSteadily(client, (sofar) => {
    // Once the answer is under way, another request's view holds the loop; nothing is read or written meanwhile.
    if (sofar > BIG / 4 && blocked === undefined) blocked = fetch(`${server.url}/block`);
  });
  assert.equal((await (await blocked!) as Response).status, 200);
  const outcome = await ran;
  assert.ok(received > BIG, `got ${received} bytes`);
  assert.equal(outcome.completed, true);
  assert.equal(lines.filter((line) => line.url === '/big/held-up').length, 0, 'no warning');
});

test('a stream with nothing to send for longer than sendTimeoutMs is not cut', { timeout: 10_000 }, async () => {
  const client = await connect(server);
  client.write(request('/quiet', { close: true }));
  let text = '';
  client.setEncoding('utf8');
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  await new Promise<void>((resolve) => client.on('data', (chunk: string) => {
    text += chunk;
    if (text.includes('first')) resolve();
  }));
  // Quiet for three times the timeout, nothing waiting for the client.
  await sleep(3 * TIMEOUT_MS);
  releaseStream();
  await ended;
  assert.match(text, /first\n[\s\S]*second\n/);
  assert.equal(lines.filter((line) => line.url === '/quiet').length, 0, 'no warning');
});
