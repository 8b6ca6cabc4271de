// A request that asks to switch protocols (Connection: upgrade and an
// Upgrade header) where nothing upgrades: llhttp stops at its end, as for a
// switch, and Node throws away the rest of that read, a request pipelined
// behind it included. Its answer closes the connection, so that the client
// knows the rest went unread (src/server/unused-upgrade.ts).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, serve } from 'coda-http';
import { assertServes, memoryLogger, parseResponse, rawRequest, serveForSuite } from '../helpers.js';
import { selfSigned } from './certificate.js';

const ASKING = 'GET /n/1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: localhost\r\n\r\n';

describe('a request asking for an upgrade no one takes', () => {
  const seen: string[] = [];
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/n/:n', (request) => {
        seen.push(request.params.n);
        return new HttpResponse(`n${request.params.n}`);
      }),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
  const suite = serveForSuite(app);

  test('is answered as any request, with Connection: close: a request pipelined behind it in the same write was neither answered nor refused, the connection left open until the keep-alive timeout', async () => {
    for (const [upgrade, connection] of [['websocket', 'Upgrade'], ['h2c', 'Upgrade, HTTP2-Settings'], ['foo', 'keep-alive, UPGRADE']]) {
      seen.length = 0;
      const asking = `GET /n/1 HTTP/1.1\r\nHost: localhost\r\nConnection: ${connection}\r\nUpgrade: ${upgrade}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`;
      const response = await rawRequest(suite.server, `${asking}GET /n/2 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      assert.deepEqual([response.status, response.headers.connection, response.body.toString()], [200, 'close', 'n1'], upgrade);
      assert.equal(response.raw.toString('latin1').match(/HTTP\/1\.1 /g)!.length, 1, upgrade);
      assert.deepEqual(seen, ['1'], upgrade);
    }
    await assertServes(suite.server, '/ok', 'ok');
  });

  test('an Upgrade without the upgrade token in Connection is no such request: its connection is kept, and the request behind it answered', async () => {
    const response = await rawRequest(suite.server, 'GET /n/1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const text = response.raw.toString('latin1');
    assert.equal(text.match(/HTTP\/1\.1 200/g)!.length, 2);
    assert.ok(text.includes('n1') && text.includes('n2'), text);
  });
});

test('over HTTP/1.1 on a server that also speaks HTTP/2 (TLS, ALPN): the same Connection: close', async () => {
  const { key, cert } = selfSigned();
  const app = createApp({ logger: memoryLogger().logger, routes: [get('/n/:n', (request) => new HttpResponse(`n${request.params.n}`))] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true });
  try {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(ASKING);
    await once(socket, 'close');
    const response = parseResponse(Buffer.concat(chunks));
    assert.deepEqual([response.status, response.headers.connection, response.body.toString()], [200, 'close', 'n1']);
    assert.equal(response.raw.toString('latin1').match(/HTTP\/1\.1 /g)!.length, 1);
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});
