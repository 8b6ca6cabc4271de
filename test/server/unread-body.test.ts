// A body the answer left unread: node:http takes it in and throws it away to
// read the next request, whatever its size. Over a real socket, as Go's
// TestHandlerFinishSkipBigContentLengthRead tests its server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, post, serve, type Server } from 'coda-http';
import type { Http2SecureServer } from 'node:http2';
import { selfSigned } from './certificate.js';
import { DRAIN_LIMIT } from '../../src/server/unread-body.js';
import { connect, memoryLogger, parseResponse, serveForBadInput } from '../helpers.js';
import { pipelined, request, responses, untilHead } from '../transport/wire.js';

describe('a body the answer left unread', () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [
      get('/ok', () => new HttpResponse('ok')),
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
      await closed;
    }
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
  await closed;
});
