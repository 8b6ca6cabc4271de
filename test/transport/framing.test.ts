// Coda owns a response's framing (Content-Length, Transfer-Encoding): whatever
// the app set, the next response on a keep-alive connection is intact, and a
// stream that breaks its declared length costs its connection, never stray bytes.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, route, StreamingResponse, type Server } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger, startServer } from '../helpers.js';
import { pipelined, request, responses } from './wire.js';

const { logger, lines } = memoryLogger();

describe('framing headers set by the app', { timeout: 10_000 }, () => {
  let server: Server;
  before(async () => {
    server = await startServer(createApp({
      logger,
      routes: [
        get('/fixed-te', () => new HttpResponse('hello', { headers: { 'transfer-encoding': 'chunked', 'content-length': '5' } })),
        get('/fixed-wrong-length', () => new HttpResponse('hello', { headers: { 'content-length': '2' } })),
        get('/empty-wrong-length', () => new HttpResponse(null, { headers: { 'content-length': '20' } })),
        get('/stream-te', () => new StreamingResponse(Readable.from(['ab', 'cd']), { headers: { 'transfer-encoding': 'gzip' } })),
        get('/stream-exact', () => new StreamingResponse(Readable.from(['ab', 'cd']), { headers: { 'content-length': '4' } })),
        get('/stream-more', () => new StreamingResponse(Readable.from(['abc', 'defgh']), { headers: { 'content-length': '5' } })),
        get('/stream-fewer', () => new StreamingResponse(Readable.from(['abc']), { headers: { 'content-length': '10' } })),
        get('/stream-bad-length', () => new StreamingResponse(Readable.from(['abc']), { headers: { 'content-length': 'ten' } })),
        get('/no-content', () => new HttpResponse(null, { status: 204, headers: { 'content-length': '0', 'transfer-encoding': 'chunked' } })),
        get('/not-modified', () => new HttpResponse(null, { status: 304, headers: { 'content-length': '42', 'transfer-encoding': 'chunked' } })),
        get('/stream-no-content', () => new StreamingResponse(Readable.from(['x']), { status: 204, headers: { 'content-length': '1' } })),
        route('HEAD', '/head-declared', () => new HttpResponse(null, { headers: { 'content-length': '1234' } })),
        get('/head-stream', () => new StreamingResponse(Readable.from(['abc']), { headers: { 'content-length': '3' } })),
        get('/next', () => new HttpResponse('next one')),
      ],
    }));
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /** `path` then `/next` on one connection: both intact, nothing in between or after. */
  async function thenNext(path: string, method = 'GET'): Promise<ReturnType<typeof responses>['list'][number]> {
    const raw = await pipelined(server, [request(path, { method }), request('/next', { close: true })]);
    const { list, rest } = responses(raw, [method, 'GET']);
    assert.equal(list.length, 2, `two responses expected in ${JSON.stringify(raw.toString('latin1'))}`);
    assert.equal(rest.length, 0, `stray bytes after the responses: ${JSON.stringify(rest.toString('latin1'))}`);
    assert.equal(list[1]!.status, 200);
    assert.equal(list[1]!.body.toString(), 'next one');
    return list[0]!;
  }

  test('a fixed body: Coda sets Content-Length and drops the Transfer-Encoding the app set', async () => {
    const first = await thenNext('/fixed-te');
    assert.equal(first.headers['transfer-encoding'], undefined);
    assert.equal(first.headers['content-length'], '5');
    assert.equal(first.body.toString(), 'hello');
  });

  test('a fixed body: a wrong Content-Length set by the app is replaced by the true one', async () => {
    const first = await thenNext('/fixed-wrong-length');
    assert.deepEqual(first.headerList.filter(([name]) => name === 'content-length'), [['content-length', '5']]);
    assert.equal(first.body.toString(), 'hello');
    const empty = await thenNext('/empty-wrong-length');
    assert.equal(empty.headers['content-length'], '0');
  });

  test('a stream: the Transfer-Encoding the app set is dropped (Node chunks it)', async () => {
    const first = await thenNext('/stream-te');
    assert.equal(first.headers['transfer-encoding'], 'chunked');
    assert.equal(first.body.toString(), 'abcd');
  });

  test('a stream that delivers exactly its declared Content-Length keeps it', async () => {
    const first = await thenNext('/stream-exact');
    assert.equal(first.headers['content-length'], '4');
    assert.equal(first.headers['transfer-encoding'], undefined);
    assert.equal(first.body.toString(), 'abcd');
  });

  for (const [path, declared, produced, what] of [['/stream-more', 5, 8, 'more'], ['/stream-fewer', 10, 3, 'fewer']] as const) {
    test(`a stream that delivers ${what} bytes than its Content-Length: logged, and the connection is closed before any stray byte`, async () => {
      const raw = await pipelined(server, [request(path), request('/next', { close: true })]);
      const text = raw.toString('latin1');
      // The connection is destroyed at once: what was written may or may not have gone out.
      assert.equal(text.indexOf('HTTP/1.1', 1), -1, `the next request was answered on the broken connection: ${JSON.stringify(text)}`);
      const head = text.indexOf('\r\n\r\n');
      if (head !== -1) {
        const body = text.slice(head + 4);
        assert.ok(body.length < declared, `the body must fall short of the declared length, got ${JSON.stringify(body)}`);
        assert.ok('abcdefgh'.startsWith(body));
      }
      const line = lines.find((l) => l.level === LEVEL.error && l.path === path);
      assert.ok(line, 'the broken response is logged');
      assert.equal(line.declared, declared);
      assert.match(String(line.msg), new RegExp(`GET ${path} declared Content-Length ${declared} but its stream`));
      assert.match(String(line.msg), what === 'more' ? /more \(at least 8 bytes\)/ : new RegExp(`ended after ${produced} bytes`));
    });
  }

  test('a stream with a Content-Length that is not a number: 500 naming it, the connection stays usable', async () => {
    const first = await thenNext('/stream-bad-length');
    assert.equal(first.status, 500);
    const line = lines.find((l) => l.level === LEVEL.error && l.path === '/stream-bad-length');
    assert.ok(line);
    assert.match(String(line.msg), /Content-Length "ten" is not a number of bytes/);
  });

  test('204: no Content-Length, no Transfer-Encoding; 304: the declared Content-Length, no Transfer-Encoding', async () => {
    const noContent = await thenNext('/no-content');
    assert.equal(noContent.status, 204);
    assert.equal(noContent.headers['content-length'], undefined);
    assert.equal(noContent.headers['transfer-encoding'], undefined);
    const notModified = await thenNext('/not-modified');
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['content-length'], '42');
    assert.equal(notModified.headers['transfer-encoding'], undefined);
    const streamNoContent = await thenNext('/stream-no-content');
    assert.equal(streamNoContent.status, 204);
    assert.equal(streamNoContent.headers['content-length'], undefined);
  });

  test('HEAD keeps a declared Content-Length, for an empty body and for a stream', async () => {
    const empty = await thenNext('/head-declared', 'HEAD');
    assert.equal(empty.headers['content-length'], '1234');
    const stream = await thenNext('/head-stream', 'HEAD');
    assert.equal(stream.headers['content-length'], '3');
  });
});

test('a Connection the app sets other than close is dropped: the client\'s Connection: close is honoured (RFC 9112 9.6), where Node kept the connection open; an app\'s close is kept', async (t) => {
  const server = await startServer(createApp({
    routes: [
      get('/keep-alive', () => new HttpResponse('kept?', { headers: { connection: 'keep-alive' } })),
      get('/close', () => new HttpResponse('last', { headers: { connection: 'close' } })),
      get('/next', () => new HttpResponse('next one')),
    ],
  }));
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const asked = responses(await pipelined(server, [request('/keep-alive', { close: true })]));
  assert.equal(asked.list.length, 1);
  assert.equal(asked.list[0]!.headers.connection, 'close');
  assert.equal(asked.list[0]!.body.toString(), 'kept?');
  // The app's own close ends a keep-alive connection: the request behind it is not answered there.
  const closed = responses(await pipelined(server, [request('/close'), request('/next', { close: true })]));
  assert.deepEqual(closed.list.map((response) => [response.headers.connection, response.body.toString()]), [['close', 'last']]);
});

test('HEAD of a stream whose Content-Length is not a number gets the head GET gets: a 500, over a socket, app.fetch and the in-process client', async () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [get('/bad-length', () => new StreamingResponse(Readable.from(['abc']), { headers: { 'content-length': 'abc' } }))],
  });
  // The app's 'abc' went out on HEAD as it was: the client could not read the head.
  for (const transport of ['socket', 'in-process'] as const) {
    await using client = createTestClient(app, { transport });
    for (const method of ['GET', 'HEAD']) {
      const response = await client.request(method, '/bad-length');
      assert.equal(response.status, 500, `${transport} ${method}`);
      assert.notEqual(response.headers.get('content-length'), 'abc');
    }
  }
  const fetched = await app.fetch(new Request('http://localhost/bad-length', { method: 'HEAD' }));
  assert.equal(fetched.status, 500);
  assert.notEqual(fetched.headers.get('content-length'), 'abc');
  const refusals = lines.filter((l) => l.level === LEVEL.error && /Content-Length "abc" is not a number of bytes/.test(String(l.msg)));
  assert.equal(refusals.length, 5, 'each refusal is logged');
});

test('a Content-Length that is not a number on a fixed response without a body (HEAD, 304) is not sent as it is: HEAD gets the length GET gets, a 304 none', async () => {
  const app = createApp({
    routes: [
      get('/empty', () => new HttpResponse(null, { headers: { 'content-length': 'abc' } })),
      get('/not-modified', () => new HttpResponse(null, { status: 304, headers: { 'content-length': 'abc', etag: '"v1"' } })),
    ],
  });
  // Sent as the app set it, the client could not read the head ("Invalid character in Content-Length").
  for (const transport of ['socket', 'in-process'] as const) {
    await using client = createTestClient(app, { transport });
    for (const method of ['GET', 'HEAD']) {
      const empty = await client.request(method, '/empty');
      assert.deepEqual([empty.status, empty.headers.get('content-length')], [200, '0'], `${transport} ${method} /empty`);
      const notModified = await client.request(method, '/not-modified');
      assert.deepEqual([notModified.status, notModified.headers.get('content-length'), notModified.headers.get('etag')], [304, null, '"v1"'], `${transport} ${method} /not-modified`);
    }
  }
  for (const method of ['GET', 'HEAD']) {
    const fetched = await app.fetch(new Request('http://localhost/empty', { method }));
    assert.equal(fetched.headers.get('content-length'), '0', method);
  }
});
