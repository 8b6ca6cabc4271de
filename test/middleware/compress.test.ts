import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import {
  compress, createApp, get, HttpResponse, JsonResponse, staticFiles, StreamingResponse, type Outcome,
} from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, deferred, rawGet, serveForSuite, startServer } from '../helpers.js';

const text = 'All work and no play makes Jack a dull boy. '.repeat(100);
const small = 'tiny';
const png = Buffer.alloc(4096, 7);
// Random bytes do not compress: gzip and Brotli output is a little longer.
const noise = randomBytes(4096);

describe('compress()', () => {
  // One response for every request, as a module-level constant is.
  const shared = new HttpResponse(text, { headers: { etag: '"v1"' } });
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-compress-'));
  writeFileSync(path.join(dir, 'page.html'), text);
  writeFileSync(path.join(dir, 'photo.png'), png);
  // Past 64 KiB, staticFiles() streams a file; below, it sends it whole.
  writeFileSync(path.join(dir, 'book.html'), text.repeat(20));
  const outcomes = new Map<string, Outcome>();
  const app = createApp({
    middleware: [compress(), { afterResponse(request, _response, outcome) { outcomes.set(request.path, outcome); } }],
    routes: [
      get('/text', () => new HttpResponse(text)),
      get('/json', () => new JsonResponse({ text })),
      get('/small', () => new HttpResponse(small)),
      get('/noise', () => new HttpResponse(noise, { headers: { 'content-type': 'text/plain' } })),
      get('/png', () => new HttpResponse(png, { headers: { 'content-type': 'image/png' } })),
      get('/zip', () => new HttpResponse(png, { headers: { 'content-type': 'application/zip' } })),
      get('/encoded', () => new HttpResponse(zlib.gzipSync(text), { headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' } })),
      get('/no-transform', () => new HttpResponse(text, { headers: { 'cache-control': 'no-transform' } })),
      get('/empty', () => new HttpResponse(null, { status: 204, headers: { 'content-type': 'text/plain' } })),
      get('/tagged', () => new HttpResponse(text, { headers: { etag: '"v1"', vary: 'Cookie' } })),
      get('/shared', () => shared),
      get('/png-not-modified', () => new HttpResponse(null, { status: 304, headers: { 'content-type': 'image/png' } })),
      get('/stream', () => new StreamingResponse((async function* () {
        for (let i = 0; i < 50; i++) yield `line ${i}: ${text.slice(0, 80)}\n`;
      })(), { headers: { 'content-type': 'text/plain; charset=utf-8' } })),
      staticFiles('/files', { root: dir }),
    ],
  });
  const { raw: fetchRaw } = serveForSuite(app, () => rmSync(dir, { recursive: true, force: true }));

  test('gzip and Brotli over the wire: the body decodes to the original, Content-Length is that of the compressed bytes, and so is bytesSent', async () => {
    for (const [encoding, decode] of [['gzip', zlib.gunzipSync], ['br', zlib.brotliDecompressSync]] as const) {
      const response = await fetchRaw('/text', { 'accept-encoding': encoding });
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], encoding);
      assert.equal(response.headers.vary, 'Accept-Encoding');
      assert.equal(Number(response.headers['content-length']), response.body.length);
      assert.ok(response.body.length < text.length / 10);
      assert.equal(decode(response.body).toString(), text);
      await app.settle();
      assert.equal(outcomes.get('/text')!.bytesSent, response.body.length);
    }
  });

  test('streams are compressed chunk by chunk (chunked, no Content-Length), and bytesSent counts the bytes on the wire', async () => {
    const response = await fetchRaw('/stream', { 'accept-encoding': 'gzip' });
    assert.equal(response.headers['content-encoding'], 'gzip');
    assert.equal(response.headers['transfer-encoding'], 'chunked');
    assert.equal(response.headers['content-length'], undefined);
    const expected = Array.from({ length: 50 }, (_, i) => `line ${i}: ${text.slice(0, 80)}\n`).join('');
    assert.equal(zlib.gunzipSync(response.body).toString(), expected);
    await app.settle();
    assert.equal(outcomes.get('/stream')!.bytesSent, response.body.length);
  });

  test('each streamed chunk is flushed: the client decodes the first event while the stream still waits', async () => {
    const release = deferred();
    const sse = createApp({
      middleware: [compress({ threshold: 0 })],
      routes: [get('/events', () => new StreamingResponse((async function* () {
        yield 'data: first\n\n';
        await release.promise;
        yield 'data: second\n\n';
      })(), { headers: { 'content-type': 'text/event-stream' } }))],
    });
    const sseServer = await startServer(sse);
    try {
      const received = await new Promise<string[]>((resolve, reject) => {
        http.get(`${sseServer.url}/events`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          assert.equal(res.headers['content-encoding'], 'gzip');
          const events: string[] = [];
          const gunzip = res.pipe(zlib.createGunzip());
          gunzip.on('data', (chunk: Buffer) => {
            events.push(chunk.toString());
            if (events.length === 1) release.resolve();
          });
          gunzip.on('end', () => resolve(events));
          gunzip.on('error', reject);
        }).on('error', reject);
      });
      assert.deepEqual(received, ['data: first\n\n', 'data: second\n\n']);
    } finally {
      await sseServer.close();
    }
  });

  test('a client that goes away mid-stream: the compressed stream and its source are let go (the generator returns)', async () => {
    const ended = deferred();
    const endless = createApp({
      middleware: [compress({ threshold: 0 })],
      routes: [get('/forever', () => new StreamingResponse((async function* () {
        try {
          for (;;) yield `tick ${text}\n`;
        } finally {
          ended.resolve();
        }
      })(), { headers: { 'content-type': 'text/plain' } }))],
    });
    const endlessServer = await startServer(endless);
    try {
      await new Promise<void>((resolve) => {
        const request = http.get(`${endlessServer.url}/forever`, { headers: { 'accept-encoding': 'br' } }, (res) => {
          assert.equal(res.headers['content-encoding'], 'br');
          res.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', () => {});
        request.on('close', resolve);
      });
      await ended.promise;
      await endless.settle();
      assert.equal(endless.requestsInFlight, 0);
    } finally {
      await endlessServer.close();
    }
  });

  test('a client that stops reading a compressed stream: its source is not read far ahead (backpressure through the compressor), and is let go when the client goes', async () => {
    const CHUNK = 64 * 1024;
    const CHUNKS = 1024; // 64 MiB: far more than the kernel's buffers and the compressor's hold
    let produced = 0;
    const ended = deferred();
    const outcome = deferred<Outcome>();
    const noisy = createApp({
      middleware: [compress({ threshold: 0 }), { afterResponse(request, _response, done) { if (request.method === 'GET') outcome.resolve(done); } }],
      routes: [get('/noise-stream', () => new StreamingResponse((async function* () {
        try {
          // Random bytes: the compressor's output is as large as its input, so the client's window fills.
          for (let i = 0; i < CHUNKS; i++) {
            produced += CHUNK;
            yield randomBytes(CHUNK);
          }
        } finally {
          ended.resolve();
        }
      })(), { headers: { 'content-type': 'text/plain' } }))],
    });
    const noisyServer = await startServer(noisy);
    try {
      const socket = await connect(noisyServer);
      socket.on('error', () => {});
      socket.write(rawGet('/noise-stream', { 'accept-encoding': 'gzip' }));
      await once(socket, 'readable');
      socket.pause();
      assert.match((socket.read() as Buffer).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*content-encoding: gzip\r\n/i);
      // Every chance to run ahead: full round trips on other connections, until the source has stood still for ten of them.
      for (let still = 0, last = -1, trips = 0; still < 10 && trips < 2_000; trips++) {
        assert.equal((await fetch(`${noisyServer.url}/noise-stream`, { method: 'HEAD' })).status, 200);
        still = produced === last ? still + 1 : 0;
        last = produced;
      }
      // Kernel buffers on both ends hold a few MiB, the compressor a little: anything near the whole body means none.
      assert.ok(produced < 16 * 1024 * 1024, `the source ran ${produced} bytes ahead of a client that reads nothing`);
      socket.destroy();
      await ended.promise;
      assert.equal((await outcome.promise).aborted, true);
      await noisy.settle();
      assert.equal(noisy.requestsInFlight, 0);
    } finally {
      await noisyServer.close();
    }
  });

  test('static files are compressed, a small one whole and a large one as a stream: no Accept-Ranges, a weak ETag; a range is sent as it is', async () => {
    const whole = await fetchRaw('/files/page.html', { 'accept-encoding': 'br' });
    assert.equal(whole.headers['content-encoding'], 'br');
    assert.equal(whole.headers['content-length'], String(whole.body.length));
    assert.equal(whole.headers['accept-ranges'], undefined);
    assert.match(whole.headers.etag!, /^W\//);
    assert.equal(zlib.brotliDecompressSync(whole.body).toString(), text);
    const streamed = await fetchRaw('/files/book.html', { 'accept-encoding': 'br' });
    assert.equal(streamed.headers['content-encoding'], 'br');
    assert.equal(streamed.headers['content-length'], undefined);
    assert.equal(streamed.headers['accept-ranges'], undefined);
    assert.match(streamed.headers.etag!, /^W\//);
    assert.equal(zlib.brotliDecompressSync(streamed.body).toString(), text.repeat(20));
    const part = await fetchRaw('/files/page.html', { 'accept-encoding': 'br', range: 'bytes=0-2' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-encoding'], undefined);
    assert.equal(part.body.toString(), 'All');
  });

  test('Accept-Encoding: q-values, identity and * are understood; ties go to the server preference (br, then gzip)', async () => {
    const client = createTestClient(app);
    const cases: [string | undefined, string | null][] = [
      [undefined, null],
      ['', null],
      ['identity', null],
      ['gzip', 'gzip'],
      ['br', 'br'],
      ['gzip, br', 'br'],
      ['gzip;q=1.0, br;q=0.5', 'gzip'],
      ['br;q=0, gzip', 'gzip'],
      ['*', 'br'],
      ['*;q=0.5, br;q=0', 'gzip'],
      ['gzip;q=0, br;q=0', null],
      ['*;q=0', null],
      ['deflate, compress', null],
      ['GZIP', 'gzip'],
      ['gzip;q=nope', null],
    ];
    for (const [accept, expected] of cases) {
      const response = await client.get('/json', { headers: accept === undefined ? {} : { 'accept-encoding': accept } });
      assert.equal(response.headers.get('content-encoding'), expected, `Accept-Encoding: ${accept}`);
      assert.equal(response.headers.get('vary'), 'Accept-Encoding');
    }
  });

  test('left alone: small bodies, compressed types, a set Content-Encoding, no-transform, HEAD, 204 and 304', async () => {
    const client = createTestClient(app);
    const gzip = { 'accept-encoding': 'gzip, br' };
    const tiny = await client.get('/small', { headers: gzip });
    assert.equal(tiny.headers.get('content-encoding'), null);
    assert.equal(tiny.headers.get('vary'), 'Accept-Encoding');
    assert.equal(await tiny.text(), small);
    for (const target of ['/png', '/zip']) {
      const response = await client.get(target, { headers: gzip });
      assert.equal(response.headers.get('content-encoding'), null, target);
      assert.equal(response.headers.get('vary'), null, target);
      assert.deepEqual(response.body, png);
    }
    const encoded = await client.get('/encoded', { headers: gzip });
    assert.equal(encoded.headers.get('content-encoding'), 'gzip');
    assert.equal(zlib.gunzipSync(encoded.body).toString(), text);
    assert.equal((await client.get('/no-transform', { headers: gzip })).headers.get('content-encoding'), null);
    const head = await fetchRaw('/text', gzip, 'HEAD');
    assert.equal(head.headers['content-encoding'], undefined);
    assert.equal(head.headers['content-length'], String(text.length));
    const empty = await client.get('/empty', { headers: gzip });
    assert.equal(empty.status, 204);
    assert.equal(empty.headers.get('content-encoding'), null);
    const { headers } = await fetchRaw('/files/page.html');
    const notModified = await fetchRaw('/files/page.html', { ...gzip, 'if-none-match': headers.etag! });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['content-encoding'], undefined);
  });

  test("a body compression would not shrink goes out as it is, with Vary (Django's test_no_compress_incompressible_response)", async () => {
    for (const encoding of ['gzip', 'br']) {
      const response = await fetchRaw('/noise', { 'accept-encoding': encoding });
      assert.equal(response.headers['content-encoding'], undefined, encoding);
      assert.equal(response.headers.vary, 'Accept-Encoding', encoding);
      assert.deepEqual(response.body, noise, encoding);
    }
  });

  test('a 304 and a 206 of a compressible response carry Vary: Accept-Encoding, as its 200 does (a 304 without a Content-Type too); not those of an image', async () => {
    const { headers } = await fetchRaw('/files/page.html', { 'accept-encoding': 'gzip' });
    assert.equal(headers.vary, 'Accept-Encoding');
    for (const accept of [{}, { 'accept-encoding': 'gzip' }] as Record<string, string>[]) {
      const notModified = await fetchRaw('/files/page.html', { ...accept, 'if-none-match': headers.etag! });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers['content-type'], undefined);
      assert.equal(notModified.headers.vary, 'Accept-Encoding');
      const part = await fetchRaw('/files/page.html', { ...accept, range: 'bytes=0-2' });
      assert.equal(part.status, 206);
      assert.equal(part.headers.vary, 'Accept-Encoding');
      assert.equal(part.headers['content-encoding'], undefined);
    }
    const image = await fetchRaw('/png-not-modified', { 'accept-encoding': 'gzip' });
    assert.equal(image.status, 304);
    assert.equal(image.headers.vary, undefined);
  });

  test("staticFiles()' 304 of an image has no Vary, as its 200 has none; a text file's has its 200's, though neither 304 carries a Content-Type", async () => {
    const gzip = { 'accept-encoding': 'gzip' };
    for (const [file, vary] of [['photo.png', undefined], ['page.html', 'Accept-Encoding']] as const) {
      const whole = await fetchRaw(`/files/${file}`, gzip);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.vary, vary, file);
      const notModified = await fetchRaw(`/files/${file}`, { ...gzip, 'if-none-match': whole.headers.etag! });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers['content-type'], undefined, file);
      assert.equal(notModified.headers.vary, vary, file);
    }
  });

  test('an existing Vary is extended; a strong ETag becomes weak', async () => {
    const response = await createTestClient(app).get('/tagged', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(response.headers.get('vary'), 'Cookie, Accept-Encoding');
    assert.equal(response.headers.get('etag'), 'W/"v1"');
  });

  test('a response shared by many requests (a module-level constant) is compressed for each client as it asks: it was changed in place, and every later client got the first one\'s encoding, gzip bytes to one that takes none', async () => {
    for (const [accept, encoding] of [['gzip', 'gzip'], ['br', 'br'], [undefined, undefined], ['gzip', 'gzip'], ['identity', undefined]] as const) {
      const response = await fetchRaw('/shared', accept === undefined ? {} : { 'accept-encoding': accept });
      assert.equal(response.headers['content-encoding'], encoding, `Accept-Encoding: ${accept}`);
      const decoded = encoding === 'gzip' ? zlib.gunzipSync(response.body) : encoding === 'br' ? zlib.brotliDecompressSync(response.body) : response.body;
      assert.equal(decoded.toString(), text, `Accept-Encoding: ${accept}`);
      assert.equal(response.headers.etag, encoding === undefined ? '"v1"' : 'W/"v1"', 'the ETag is weakened for the compressed bytes only');
      assert.equal(response.headers['content-length'], String(response.body.length));
    }
    assert.equal(shared.body, text, 'the shared response is as it was made');
    assert.equal(shared.headers.get('content-encoding'), null);
  });

  test('bad options are refused, naming them', () => {
    assert.throws(() => compress({ treshold: 10 } as never), /compress\(\): unknown option "treshold"; did you mean "threshold"\?/);
    assert.throws(() => compress({ threshold: -1 }), /compress\(\): threshold must be a whole number of at least 0, got number -1/);
    assert.throws(() => compress({ encodings: ['deflate'] as never }), /encodings must be a non-empty list of 'br' and 'gzip', got an instance of Array/);
    assert.throws(() => compress({ encodings: [] }), /encodings must be a non-empty list/);
    assert.throws(() => compress({ gzipLevel: 10 }), /gzipLevel must be a whole number from 1 to 9, got number 10/);
    assert.throws(() => compress({ brotliQuality: 1.5 }), /brotliQuality must be a whole number from 0 to 11, got number 1.5/);
  });
});
