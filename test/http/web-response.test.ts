// A Web Response returned by a view: what it carries goes out, over a real
// socket, as a client must read it.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { compress, createApp, get, HttpResponse, type MiddlewareHooks } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, rawGet, rawRequest, startServer } from '../helpers.js';

test('a Response with a Content-Length goes out with it, not chunked (HEAD too); one made from a string has none to give (the Fetch API keeps it) and goes out chunked', async (t) => {
  const server = await startServer(createApp({
    routes: [
      get('/declared', () => new Response('hello', { headers: { 'content-length': '5' } })),
      get('/string', () => new Response('hello')),
    ],
  }));
  t.after(() => server.close());
  const declared = await rawRequest(server, rawGet('/declared'));
  assert.equal(declared.headers['content-length'], '5');
  assert.equal(declared.headers['transfer-encoding'], undefined);
  assert.equal(declared.body.toString(), 'hello');
  const head = await rawRequest(server, rawGet('/declared', {}, 'HEAD'));
  assert.equal(head.headers['content-length'], '5');
  assert.equal(head.body.length, 0);
  const string = await rawRequest(server, rawGet('/string'));
  assert.equal(string.headers['transfer-encoding'], 'chunked');
  assert.equal(string.body.toString(), 'hello');
});

test('a Response fetch() got, returned by a view (a proxy): the body fetch() decoded goes out without the upstream\'s Content-Encoding and Content-Length, and without its connection\'s fields', async (t) => {
  const text = 'hello world '.repeat(500);
  const upstream = await startServer(createApp({ middleware: [compress()], routes: [get('/text', () => new HttpResponse(text))] }));
  t.after(() => upstream.close());
  const server = await startServer(createApp({ routes: [get('/proxy/:coding', (request) => fetch(`${upstream.url}/text`, { headers: { 'accept-encoding': request.params.coding } }))] }));
  t.after(() => server.close());
  for (const coding of ['gzip', 'br', 'identity']) {
    const response = await rawRequest(server, rawGet(`/proxy/${coding}`));
    assert.equal(response.status, 200, coding);
    assert.equal(response.body.toString(), text, coding);
    assert.equal(response.headers['content-encoding'], undefined, coding);
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8', coding);
    assert.equal(response.headers['vary'], 'Accept-Encoding', coding);
    // The upstream's keep-alive connection is no field of this one: the client asked for its close.
    assert.equal(response.headers['connection'], 'close', coding);
    assert.equal(response.headers['keep-alive'], undefined, coding);
  }
});

test('a zstd upstream through a proxy view: the client reads the text, whether this Node\'s fetch() decoded it (undici 7 and later) or passed it on encoded (Node 22: then its Content-Encoding stays)', { skip: !('zstdCompressSync' in zlib) && 'no zstd in this Node\'s zlib' }, async (t) => {
  const text = 'hello zstd '.repeat(100);
  const encoded = (zlib as unknown as { zstdCompressSync(data: Buffer): Buffer }).zstdCompressSync(Buffer.from(text));
  const upstream: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'zstd', 'content-length': encoded.length });
    response.end(encoded);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => upstream.close());
  const { port } = upstream.address() as { port: number };
  const server = await startServer(createApp({ routes: [get('/proxy', () => fetch(`http://127.0.0.1:${port}/`))] }));
  t.after(() => server.close());
  const response = await rawRequest(server, rawGet('/proxy'));
  assert.equal(response.status, 200);
  const coding = response.headers['content-encoding'];
  // Before, Node 22 sent the zstd bytes without their Content-Encoding: a client read them as the text.
  const body = coding === 'zstd' ? (zlib as unknown as { zstdDecompressSync(data: Buffer): Buffer }).zstdDecompressSync(response.body) : response.body;
  assert.equal(body.toString(), text, `Content-Encoding ${String(coding)}`);
});

test('a Response whose body was read already (a module-level one returned again) is a 500 naming the mistake, not the stream\'s "ReadableStream is locked"', async () => {
  const once = new Response('web once');
  const read = new Response('read');
  await read.text();
  const app = createApp({ routes: [get('/once', () => once), get('/read', () => read)] });
  await using client = createTestClient(app);
  assert.equal(await (await client.get('/once')).text(), 'web once');
  const refused = /^a Response whose body was read already \(or is being read\) cannot be sent: its body is read once, as it is sent; make a new Response for each request/;
  for (const path of ['/once', '/read']) {
    const response = await client.get(path);
    assert.equal(response.status, 500, path);
    assert.match((response.error as Error).message, refused, path);
  }
});

test('a Response whose body fails before it is sent (an upstream cut while a middleware or the journal holds the response): the error\'s own 500, as for a stream failing before its first chunk; it was an uncaught error that took the process down', async (t) => {
  let upstream!: ReadableStreamDefaultController<Uint8Array>;
  const held = deferred();
  const release = deferred();
  const hold: MiddlewareHooks = {
    async processResponse(_request, response) {
      held.resolve();
      await release.promise;
      return response;
    },
  };
  const app = createApp({ middleware: [hold], routes: [get('/proxy', () => new Response(new ReadableStream<Uint8Array>({ start(stream) { upstream = stream; } })))] });
  const server = await startServer(app);
  t.after(() => server.close());
  const answer = fetch(`${server.url}/proxy`);
  await held.promise;
  upstream.error(new Error('the upstream connection was reset'));
  // A turn of the event loop: Node tells the stream's error in a tick of its own, before the response is released.
  await new Promise((resolve) => setImmediate(resolve));
  release.resolve();
  const response = await answer;
  assert.equal(response.status, 500);
  await response.text();
});
