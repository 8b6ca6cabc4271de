// Header values are Latin-1 on the wire, one byte per character, whatever the
// body: Node writes a string body in one write with the head, in the body's
// encoding, which would turn `é` into two UTF-8 bytes.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, ResponseHeaders, StreamingResponse, type Server } from 'coda-http';
import { rawGet, rawRequest, startServer } from '../helpers.js';

describe('non-ASCII header values', () => {
  let server: Server;
  before(async () => {
    const headers = { 'x-name': 'caf\u00e9' };
    const app = createApp({
      routes: [
        get('/string', () => new HttpResponse('caf\u00e9 body', { headers })),
        get('/bytes', () => new HttpResponse(Buffer.from('caf\u00e9 body'), { headers })),
        get('/stream', () => new StreamingResponse(Readable.from(['caf\u00e9 body']), { headers })),
        get('/empty', () => new HttpResponse(null, { headers })),
        get('/ascii', () => new HttpResponse('caf\u00e9 body', { headers: { 'x-name': 'cafe' } })),
      ],
    });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  const latin1Line = Buffer.from('x-name: caf\u00e9\r\n', 'latin1');
  const utf8Line = Buffer.from('x-name: caf\u00e9\r\n', 'utf8');

  for (const path of ['/string', '/bytes', '/stream', '/empty']) {
    test(`${path}: x-name: café goes out as the Latin-1 byte 0xE9`, async () => {
      const response = await rawRequest(server, rawGet(path));
      assert.ok(response.raw.includes(latin1Line), `no Latin-1 header line in ${response.raw.toString('hex')}`);
      assert.ok(!response.raw.includes(utf8Line), 'the header went out as UTF-8');
      if (path !== '/empty') assert.equal(response.body.toString('utf8'), 'caf\u00e9 body', 'the body stays UTF-8');
      if (path === '/string' || path === '/bytes') assert.equal(response.headers['content-length'], String(Buffer.byteLength('caf\u00e9 body')));
    });
  }

  test('an ASCII-only response with a string body is unchanged', async () => {
    const response = await rawRequest(server, rawGet('/ascii'));
    assert.equal(response.headers['x-name'], 'cafe');
    assert.equal(response.body.toString('utf8'), 'caf\u00e9 body');
  });

  test('a character above U+00FF is refused where it is set', () => {
    assert.throws(() => new ResponseHeaders().set('x-name', 'caf\u00e9 \u2603'), { name: 'TypeError', message: /U\+2603/ });
  });
});
