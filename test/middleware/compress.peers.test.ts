// expressjs/compression's test/compression.js cases, as they apply to
// compress(), over a real socket: each test names the cases it ports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { compress, createApp, get, HttpResponse, StreamingResponse } from 'coda-http';
import { serveForSuite } from '../helpers.js';

const text = 'hello, world '.repeat(100);

async function* lines(count: number): AsyncGenerator<string> {
  for (let i = 0; i < count; i++) yield `${text.slice(0, 40)}\n`;
}

describe('compress(), as expressjs/compression tests it', () => {
  const app = createApp({
    middleware: [compress({ threshold: 1024 })],
    routes: [
      get('/text', () => new HttpResponse(text)),
      get('/empty', () => new HttpResponse('')),
      get('/public-no-transform', () => new HttpResponse(text, { headers: { 'cache-control': 'public, no-transform' } })),
      get('/stream-short', () => new StreamingResponse(lines(1), { headers: { 'content-type': 'text/plain', 'content-length': '41' } })),
      get('/stream-long', () => new StreamingResponse(lines(50), { headers: { 'content-type': 'text/plain', 'content-length': String(41 * 50) } })),
    ],
  });
  const { raw } = serveForSuite(app);

  test("'should set Vary for HEAD request', 'should skip HEAD'", async () => {
    const response = await raw('/text', { 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(response.headers.vary, 'Accept-Encoding');
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.body.length, 0);
  });

  test("'should consider res.end() as 0 length': an empty body goes out as it is, with its Vary", async () => {
    const response = await raw('/empty', { 'accept-encoding': 'gzip' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.headers['content-length'], '0');
    assert.equal(response.headers.vary, 'Accept-Encoding');
  });

  test("Cache-Control no-transform (compression's shouldTransform), in a list of directives: not compressed, and no Vary", async () => {
    const response = await raw('/public-no-transform', { 'accept-encoding': 'gzip' });
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.headers.vary, undefined);
    assert.equal(response.body.toString(), text);
  });

  test("threshold: 'should not compress when streaming and content-length is lower than threshold', 'should compress when streaming and content-length is larger than threshold'", async () => {
    const short = await raw('/stream-short', { 'accept-encoding': 'gzip' });
    assert.equal(short.headers['content-encoding'], undefined);
    assert.equal(short.headers['content-length'], '41');
    const long = await raw('/stream-long', { 'accept-encoding': 'gzip' });
    assert.equal(long.headers['content-encoding'], 'gzip');
    assert.equal(long.headers['content-length'], undefined, 'the identity length is dropped');
    assert.equal(zlib.gunzipSync(long.body).toString(), `${text.slice(0, 40)}\n`.repeat(50));
  });

  test("encodings: 'should skip unknown accept-encoding' (deflate, which compress() does not offer), 'should skip if content-encoding is identity'; gzip beside deflate, at any q-value above 0, in any case", async () => {
    const cases: [string, string | undefined][] = [['deflate, gzip', 'gzip'], ['gzip;q=0.001', 'gzip'], ['identity', undefined], ['deflate', undefined], [' GZIP ; q=1 ', 'gzip']];
    for (const [accept, encoding] of cases) {
      const response = await raw('/text', { 'accept-encoding': accept });
      assert.equal(response.headers['content-encoding'], encoding, `Accept-Encoding: ${accept}`);
      assert.equal(response.headers.vary, 'Accept-Encoding', `Accept-Encoding: ${accept}`);
    }
  });
});
