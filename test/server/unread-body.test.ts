// A body the answer left unread: node:http takes it in and throws it away to
// read the next request, whatever its size. Over a real socket, as Go's
// TestHandlerFinishSkipBigContentLengthRead tests its server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, post, serve, type Server } from 'coda-http';
import type { Http2SecureServer } from 'node:http2';
import { selfSigned } from './certificate.js';
import { DRAIN_LIMIT } from '../../src/server/unread-body.js';
import { LINGER_IDLE_MS } from '../../src/transport/node/linger.js';
import { connect, memoryLogger, parseResponse, serveForBadInput } from '../helpers.js';
import { pipelined, request, responses, untilHead } from '../transport/wire.js';

describe('a body the answer left unread', () => {
  const { logger, lines } = memoryLogger();
  let counted = 0;
  const app = createApp({
    logger,
    bodyLimit: 1024 * 1024,
    routes: [
      get('/ok', () => new HttpResponse('ok')),
      get('/count', () => new HttpResponse(String(++counted))),
      post('/limited', async (req) => new HttpResponse(String((await req.bytes()).length))),
      post('/refuse', () => new HttpResponse('sign in first', { status: 401 })),
      post('/ignore', () => new HttpResponse('ignored')),
      post('/echo', async (req) => new HttpResponse(String((await req.bytes()).length))),
    ],
  });
  const served = serveForBadInput(app, lines);

  test("Go's TestHandlerFinishSkipBigContentLengthRead: a body declared past 256 KiB (or chunked) and not all arrived when the answer goes out (a 405, a view that does not read it) is answered with Connection: close and the connection closed: node:http kept it and took the whole body in", async () => {
    for (const [path, framing] of [['/ok', 'Content-Length: 1000000000'], ['/ignore', 'Content-Length: 1000000000'], ['/ignore', `Content-Length: ${DRAIN_LIMIT + 1}`], ['/ignore', 'Transfer-Encoding: chunked']]) {
      const socket = await connect(served.server);
      socket.on('error', () => {});
      const { head, received } = untilHead(socket);
      const closed = once(socket, 'close');
      socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\n${framing}\r\n\r\n`);
      await head;
      const response = parseResponse(Buffer.concat(received));
      assert.equal(response.status, path === '/ok' ? 405 : 200, `${path}, ${framing}`);
      assert.equal(response.headers.connection, 'close', `${path}, ${framing}`);
      // As a client does on Connection: close; the server, lingering for the body it was told, closes then.
      socket.end();
      await closed;
    }
  });

  test('a client that sends the whole body it declared before it reads (Python\'s http.client, and so requests) reads the answer that did not wait for it (a 413, a 401 to an upload): the connection lingers, reading and dropping the body, where closed at once its reset made the client lose the answer (BrokenPipeError)', async () => {
    for (const [path, status] of [['/limited', 413], ['/refuse', 401]] as const) {
      const { failed, answer } = await uploadBeforeReading(await halfOpen(served.server), path);
      assert.deepEqual(failed, [], `${path}: the whole body went out`);
      assert.equal(answer.status, status, path);
    }
  });

  test('what a client sends after the answer on a lingering connection is never read as a request: a request pipelined behind the unread body is not run', async () => {
    const before = counted;
    const socket = await connect(served.server);
    socket.on('error', () => {});
    const { head, received } = untilHead(socket);
    const size = DRAIN_LIMIT * 8;
    socket.write(`POST /refuse HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`);
    await head;
    socket.write(Buffer.alloc(size));
    socket.write('GET /count HTTP/1.1\r\nHost: localhost\r\n\r\n');
    socket.end();
    await once(socket, 'close');
    assert.equal(parseResponse(Buffer.concat(received)).status, 401);
    assert.equal(Buffer.concat(received).toString('latin1').match(/HTTP\/1\.1 /g)?.length, 1, 'one answer');
    assert.equal(counted, before, 'the pipelined request was not run');
  });

  test(`a lingering connection whose client neither sends nor closes is closed after ${LINGER_IDLE_MS} ms of silence`, async () => {
    // The server's side of the connection: the client's, half open, hears nothing of a close after the FIN it already had.
    const accepted = once(served.server.server, 'connection') as Promise<[net.Socket]>;
    const socket = await halfOpen(served.server);
    socket.on('error', () => {});
    const [serverSide] = await accepted;
    const { head } = untilHead(socket);
    socket.write('POST /refuse HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n');
    await head;
    const since = performance.now();
    await once(serverSide, 'close');
    assert.ok(performance.now() - since >= LINGER_IDLE_MS - 50, 'closed once silent for the idle time, not at once');
    socket.destroy();
  });

  test('a small body left unread, and a large one read whole, keep the connection: the next request on it is served', async () => {
    const small = `POST /ignore HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${DRAIN_LIMIT}\r\n\r\n${'s'.repeat(DRAIN_LIMIT)}`;
    const large = `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${DRAIN_LIMIT * 2}\r\n\r\n${'l'.repeat(DRAIN_LIMIT * 2)}`;
    const { list } = responses(await pipelined(served.server, [small, large, request('/ok', { close: true })]));
    assert.deepEqual(list.map((response) => [response.status, response.headers.connection, response.body.toString()]), [
      [200, 'keep-alive', 'ignored'],
      [200, 'keep-alive', String(DRAIN_LIMIT * 2)],
      [200, 'close', 'ok'],
    ]);
  });
});

test('on the HTTP/2 port, an HTTP/1.1 request declaring a body past 256 KiB that the answer left unread is answered with Connection: close and the connection closed, as on an HTTP/1.1 server', async (t) => {
  const { key, cert } = selfSigned();
  const app = createApp({ logger: memoryLogger().logger, routes: [post('/ignore', () => new HttpResponse('ignored'))] });
  const server: Server<Http2SecureServer> = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const socket = tls.connect({ port: server.port, host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  const { head, received } = untilHead(socket);
  const closed = once(socket, 'close');
  socket.write('POST /ignore HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n');
  await head;
  assert.equal(parseResponse(Buffer.concat(received)).headers.connection, 'close');
  socket.end();
  await closed;
});

/** A connection that stays open for writing once the server has closed its side, as Python's http.client keeps sending its body. */
async function halfOpen(server: Server): Promise<net.Socket> {
  const socket = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends a 20 MiB body whole before reading the answer, as Python's http.client
 * does, over `socket` (half open: it keeps sending after the server's FIN);
 * then reads the answer and closes. Returns the write errors and the answer.
 */
async function uploadBeforeReading(socket: net.Socket, path: string): Promise<{ failed: string[]; answer: ReturnType<typeof parseResponse> }> {
  const failed: string[] = [];
  socket.on('error', (error) => failed.push(error.message));
  const { head, received } = untilHead(socket);
  const size = 20 * 1024 * 1024;
  socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024);
  const closed = once(socket, 'close');
  for (let sent = 0; sent < size && failed.length === 0; sent += chunk.length) {
    if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), closed]);
  }
  await head.catch(() => {});
  socket.end();
  await closed;
  return { failed, answer: parseResponse(Buffer.concat(received)) };
}

test('over TLS too (HTTPS, and HTTP/1.1 on the HTTP/2 port), a client that sends the whole body before it reads gets the 401 its upload was answered with: the lingering connection reads on (over TLS its reading stayed stopped: the client\'s writes stalled, and the reset after 2 s lost it the answer)', async (t) => {
  const { key, cert } = selfSigned();
  const app = createApp({ logger: memoryLogger().logger, routes: [post('/refuse', () => new HttpResponse('sign in first', { status: 401 }))] });
  for (const http2 of [false, true]) {
    const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2 });
    t.after(() => server.close({ timeoutMs: 1_000 }));
    // Half open, as Python's client (allowHalfOpen is a net.Socket option tls.connect passes on, not in its type).
    const socket = tls.connect({ port: server.port, host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'], allowHalfOpen: true } as tls.ConnectionOptions);
    await once(socket, 'secureConnect');
    const { failed, answer } = await uploadBeforeReading(socket, '/refuse');
    assert.deepEqual(failed, [], `http2: ${http2}, the whole body went out`);
    assert.equal(answer.status, 401, `http2: ${http2}`);
  }
});
