// How many header fields a request may have: one rule, never a silent drop.
// Node 24's HTTP/1.1 parser refuses a head with more fields than the server
// keeps (1000 by default) with a 431 that does not say why; earlier Nodes kept
// the first ones and dropped the rest without a word. serve() refuses past
// 1000 fields with a 431 that names the limit, whatever the Node
// (src/server/header-list.ts). Over HTTP/2, Node resets a
// stream past 128 pairs (maxHeaderListPairs, pseudo-headers included) with
// ENHANCE_YOUR_CALM, and the session serves its next stream. Raw sockets for
// HTTP/1.1, node:http2's client over real TLS for HTTP/2.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, serve, type Server } from 'coda-http';
import type { Http2SecureServer } from 'node:http2';
import { memoryLogger, rawRequest, startServer } from '../helpers.js';
import { selfSigned } from './certificate.js';

/** GET /count with `fields` header fields in all, Host and Connection: close among them; each short, so the head stays far under 16 KiB; `a:1`, or `a: 1` with a space. */
function head(fields: number, space = ''): string {
  const lines = ['GET /count HTTP/1.1', 'Host: localhost', 'Connection: close'];
  for (let i = 2; i < fields; i++) lines.push(`a:${space}${i % 10}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

describe('the header field count over HTTP/1.1', () => {
  let views = 0;
  let server: Server;
  before(async () => {
    // The view answers how many fields it was given.
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/count', (request) => (views++, new HttpResponse(String(request.raw!.rawHeaders.length / 2))))] });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('1000 fields: served, and the view sees every one', async () => {
    const response = await rawRequest(server, head(1_000));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), '1000');
  });

  test('1001 fields, or 2100, written a:1 or a: 1: a 431 naming the limit, the connection closed, the app never sees it (with the space it was the 414 of the URL)', async () => {
    for (const [fields, space] of [[1_001, ''], [2_100, ''], [1_001, ' '], [2_100, ' ']] as const) {
      const seen = views;
      const text = head(fields, space);
      assert.ok(text.length < 16_384, 'the head is under maxHeaderSize: the count alone is past the limit');
      const response = await rawRequest(server, text);
      assert.equal(response.status, 431, `${fields} fields, ${JSON.stringify(space)}`);
      assert.match(response.body.toString(), /more than 1000 header fields/);
      assert.equal(response.headers.connection, 'close');
      assert.equal(views, seen, 'the view never ran');
    }
  });
});

describe('the header field count over HTTP/2', () => {
  const { key, cert } = selfSigned();
  let views = 0;
  let server: Server<Http2SecureServer>;
  before(async () => {
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/count', () => (views++, new HttpResponse('ok')))] });
    server = await serve(app, { port: 0, handleSignals: false, tls: { key, cert }, http2: true });
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /** GET /count on `session` with `count` headers of its own (the four pseudo-headers besides): the status, or the RST_STREAM code. */
  async function send(session: http2.ClientHttp2Session, count: number): Promise<{ status?: number; reset?: number }> {
    const headers: http2.OutgoingHttpHeaders = { ':path': '/count' };
    for (let i = 0; i < count; i++) headers[`x-h${i}`] = '1';
    const stream = session.request(headers);
    stream.on('error', () => {});
    stream.resume();
    const answer = new Promise<number>((resolve) => stream.once('response', (h) => resolve(h[':status']!)));
    await new Promise((resolve) => stream.once('close', resolve));
    return stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? { status: await answer } : { reset: stream.rstCode! };
  }

  test('124 headers (128 pairs with the pseudo-headers) are served; 125 reset the stream (ENHANCE_YOUR_CALM), the app never sees it, and the session serves its next stream', async () => {
    const session = http2.connect(server.url, { ca: cert });
    try {
      assert.deepEqual(await send(session, 124), { status: 200 });
      const seen = views;
      assert.deepEqual(await send(session, 125), { reset: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
      assert.equal(views, seen, 'the view never ran');
      assert.deepEqual(await send(session, 1), { status: 200 });
    } finally {
      session.close();
    }
  });
});
