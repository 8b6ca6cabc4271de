// More of expressjs/body-parser's parser tests (test/json.js, test/urlencoded.js,
// test/text.js, test/raw.js) and Fastify's (test/body-limit.test.js, the
// FST_ERR_CTP_* errors of lib/content-type-parser.js), those body.peers.test.ts
// leaves out, as Coda's readers take them: each named after its peer case,
// saying where Coda reads it otherwise and why (docs/lifecycle.md, "Bad bodies").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createApp, get, HttpResponse, JsonResponse, route, type BodyOptions, type View } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, memoryLogger, serveForBadInput } from '../helpers.js';
import { reading, sendTo } from './body-readers.js';

const READERS: Record<string, View> = {
  '/json': reading((request) => request.json()),
  '/text': reading((request) => request.text()),
  '/form': reading((request) => request.form()),
  '/bytes': reading((request) => request.bytes()),
  // The reader's error as Coda answers it, with its headers.
  '/json-unread': async (request) => new JsonResponse(await request.json()),
};

/** An app whose routes answer with what each reader gives. */
function readersApp(options: { bodyLimit?: number; body?: BodyOptions } = {}) {
  const { logger, lines } = memoryLogger();
  const routes = [...Object.entries(READERS).map(([path, view]) => route(['GET', 'POST'], path, view)), get('/ok', () => new HttpResponse('ok'))];
  return { app: createApp({ logger, routes, ...options }), lines };
}

const client = createTestClient(readersApp().app);

/** A POST over the test client: its status and JSON body. */
async function post(path: string, type: string | null, body: string | Buffer): Promise<[number, unknown]> {
  const res = await client.post(path, { body, headers: type === null ? {} : { 'content-type': type } });
  return [res.status, await res.json()];
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

describe("body-parser's json parser, the cases body.peers.test.ts leaves out", () => {
  test("json.js 'should error on body with only RFC 7159 whitespace characters' and 'should 400 when only whitespace': only JSON's four blanks make an empty body; a form feed, a no-break space or U+2028 is a character JSON does not allow, a 400 saying so (it was called an empty body)", async () => {
    assert.deepEqual(await post('/json', JSON_TYPE, ' \t\n\r'), [400, { error: 'empty JSON body: the Content-Type is JSON but the body has nothing to parse' }]);
    // The first byte order mark is the charset's, dropped as text() drops it: what follows is the body.
    assert.deepEqual(await post('/json', JSON_TYPE, '\ufeff'), [400, { error: 'empty JSON body: the Content-Type is JSON but the body has nothing to parse' }]);
    for (const body of ['\f', ' \u00a0 ', '\u2028']) {
      const [status, answer] = await post('/json', JSON_TYPE, body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.match((answer as { error: string }).error, /^malformed JSON body: Unexpected token/, JSON.stringify(body));
    }
  });

  test("json.js charset 'should fail on unknown charset' (koi8-r, a 415 there): Coda decodes JSON in the charset its Content-Type names, as it decodes text, so KOI8-R is read; body-parser takes only utf-* for JSON (RFC 7159 8.1), Fastify reads every body as UTF-8 whatever its charset", async () => {
    assert.deepEqual(await post('/json', `${JSON_TYPE}; charset=koi8-r`, Buffer.from('7b226e616d65223a22cec5d4227d', 'hex')), [200, { body: { name: '\u043d\u0435\u0442' } }]);
  });

  test("json.js with type option 'should ignore \"application/x-json\"', Fastify's 'invalid content-type error message …' (FST_ERR_CTP_INVALID_MEDIA_TYPE), urlencoded.js 'should ignore application/x-foo' and a vnd. form type: json() and form() take their own types only, a 415 naming what came", async () => {
    assert.deepEqual(await post('/json', 'application/x-json', '{}'), [415, { error: 'json() expects Content-Type application/json, got application/x-json' }]);
    assert.deepEqual(await post('/json', 'invalid-content-type', '{}'), [415, { error: 'json() expects Content-Type application/json, got invalid-content-type' }]);
    for (const type of ['application/x-foo', 'application/vnd.x-www-form-urlencoded']) {
      assert.deepEqual(await post('/form', type, 'a=1'), [415, { error: `form() expects Content-Type application/x-www-form-urlencoded or multipart/form-data, got ${type}` }], type);
    }
  });
});

describe("body-parser's text and raw parsers: text() and bytes() read any type", () => {
  test("text.js 'should parse text/plain', with type option 'should parse \"text/html\"', '… \"text/xml\"' and 'should work without content-type': text() reads a body whatever its type, or none (body-parser's parser takes text/plain unless told more); the charset still decodes it", async () => {
    for (const type of ['text/plain', 'text/html', 'text/xml', 'application/json', null]) {
      assert.deepEqual(await post('/text', type, 'user is tobi'), [200, { body: 'user is tobi' }], String(type));
    }
    assert.deepEqual(await post('/text', 'text/html; charset=iso-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9])), [200, { body: 'caf\u00e9' }]);
  });

  test("raw.js 'should parse application/octet-stream', charset 'should ignore charset' and with type option 'should work without content-type': bytes() gives the bytes as sent, whatever the type or charset", async () => {
    const bytes = Buffer.from('the user is tobi');
    for (const type of ['application/octet-stream', 'application/octet-stream; charset=utf-16', 'application/vnd+octets', null]) {
      assert.deepEqual(await post('/bytes', type, bytes), [200, { body: bytes.toString('hex') }], String(type));
    }
  });
});

describe("body-parser's urlencoded parser: Coda's form() takes names as sent and its charset from the Content-Type", () => {
  test("urlencoded.js 'should parse x-www-form-urlencoded with an explicit iso-8859-1 encoding', and the utf8 sentinel cases ('… when the utf8 sentinel has a value of %26%2310003%3B', '… %E2%9C%93 …', 'should not leave an empty string parameter when removing the utf8 sentinel …'): the charset is the Content-Type's; a utf8 field is a field like any other, kept, and changes no charset (body-parser's charsetSentinel: true; neither WHATWG's URLSearchParams nor Django reads one)", async () => {
    assert.deepEqual(await post('/form', `${FORM_TYPE}; charset=iso-8859-1`, '%A2=%BD'), [200, { body: [['\u00a2', '\u00bd']] }]);
    assert.deepEqual(await post('/form', FORM_TYPE, 'utf8=%E2%9C%93&user=%C3%B8'), [200, { body: [['utf8', '\u2713'], ['user', '\u00f8']] }]);
    // The sentinel of a Latin-1 form leaves it UTF-8 (body-parser read user as "Ã¸"); a Latin-1 escape in it is a 400, not a guess at another charset.
    assert.deepEqual(await post('/form', FORM_TYPE, 'utf8=%26%2310003%3B&user=%C3%B8'), [200, { body: [['utf8', '&#10003;'], ['user', '\u00f8']] }]);
    assert.deepEqual(await post('/form', FORM_TYPE, 'utf8=%26%2310003%3B&user=%F8'), [400, { error: 'the value of form field "user" has percent-escapes that are not valid UTF-8 (%F8)' }]);
    assert.deepEqual(await post('/form', FORM_TYPE, 'foo=bar&utf8=%E2%9C%93&baz=quux'), [200, { body: [['foo', 'bar'], ['utf8', '\u2713'], ['baz', 'quux']] }]);
  });

  test("urlencoded.js extended 'should parse array index notation with large array', 'should parse deep object' and depth 'should not parse beyond the specified depth': no object is built, so nothing nests: a name 40 brackets deep is one name, and 200 indexed names are 200 fields", async () => {
    const deep = `a${'[b]'.repeat(40)}`;
    assert.deepEqual(await post('/form', FORM_TYPE, `${encodeURIComponent(deep)}=x`), [200, { body: [[deep, 'x']] }]);
    const indexed = Array.from({ length: 200 }, (_, i) => `f[${i}]=${i}`).join('&');
    const [status, answer] = await post('/form', FORM_TYPE, indexed);
    assert.deepEqual([status, (answer as { body: string[][] }).body.at(-1)], [200, ['f[199]', '199']]);
  });

  test("urlencoded.js parameterLimit 'should reject 0', 'should reject string', 'should work if number is floating point' and 'should work with Infinity limit': maxFields is a whole number of at least 1, or createApp() refuses it naming it (no unlimited form: a large number is one)", () => {
    for (const maxFields of [0, '10', 10.5, Infinity]) {
      assert.throws(() => readersApp({ body: { maxFields: maxFields as number } }), { name: 'RangeError', message: /^body\.maxFields must be a whole number of at least 1, got / }, String(maxFields));
    }
  });

  test("limit 'should not change when options altered' (json, urlencoded, text, raw): the body options an app was made with hold when the object is changed after", async () => {
    const options = { maxFields: 2 };
    const altered = createTestClient(readersApp({ body: options }).app);
    options.maxFields = 1000;
    const res = await altered.post('/form', { body: 'a=1&b=2&c=3', headers: { 'content-type': FORM_TYPE } });
    assert.deepEqual([res.status, await res.json()], [413, { error: 'form has more than 2 fields; raise createApp({ body: { maxFields } }) to allow more' }]);
  });
});

describe("Fastify's body limit", () => {
  test("body-limit.test.js 'bodyLimit' and 'default request.routeOptions.bodyLimit should be 1048576': a bodyLimit that is not a whole number of bytes is refused naming it; by default a body of 1 MiB is read, one byte more is a 413", async () => {
    for (const bodyLimit of [1.3, []]) {
      assert.throws(() => readersApp({ bodyLimit: bodyLimit as number }), { name: 'RangeError', message: /^createApp\(\): bodyLimit must be a whole number of bytes, got / }, String(bodyLimit));
    }
    const tiny = createTestClient(readersApp({ bodyLimit: 1 }).app);
    const res = await tiny.post('/json', { body: '[]', headers: { 'content-type': JSON_TYPE } });
    assert.equal(res.status, 413);
    const [status] = await post('/bytes', null, Buffer.alloc(1024 * 1024));
    assert.equal(status, 200);
    assert.deepEqual(await post('/bytes', null, Buffer.alloc(1024 * 1024 + 1)), [413, { error: 'request body too large: Content-Length 1048577, the limit is 1048576 bytes' }]);
  });

  test("content-type-parser.js's FST_ERR_CTP_INVALID_CONTENT_LENGTH and raw-body's 'request size did not match content length': a Request to app.fetch whose body is longer or shorter than its Content-Length is a 400 saying both (it was read as sent, the Content-Length ignored)", async () => {
    const { app } = readersApp();
    for (const [declared, body] of [['5', 'hello world'], ['50', 'hello world'], ['five', 'hello']]) {
      const response = await app.fetch(new Request('http://coda.test/text', { method: 'POST', body, headers: { 'content-length': declared! } }));
      assert.deepEqual([response.status, await response.json()], [400, { error: `request body is ${body!.length} bytes, but its Content-Length is ${JSON.stringify(declared)}` }], declared);
    }
    const matching = await app.fetch(new Request('http://coda.test/text', { method: 'POST', body: 'hello', headers: { 'content-length': '5' } }));
    assert.deepEqual([matching.status, await matching.json()], [200, { body: 'hello' }]);
  });
});

describe('a compressed request body, over a real socket: Coda inflates none (body-parser inflates gzip, deflate and br; Fastify and Django none)', () => {
  const { app, lines } = readersApp({ bodyLimit: 1024 });
  const suite = serveForBadInput(app, lines);

  /** Sends the head of a request whose body is `declared` bytes but only `first` of them; resolves with what the server answered before the rest came. */
  async function answerBeforeBody(path: string, headers: string[], declared: number, first: Buffer): Promise<string> {
    const socket = await connect(suite.server);
    const chunks: Buffer[] = [];
    const answered = new Promise<string>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString('latin1');
        const headEnd = text.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
        if (headEnd !== -1 && length !== null && text.length >= headEnd + 4 + Number(length[1])) resolve(text);
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed before a whole answer: ${Buffer.concat(chunks).toString('latin1')}`)));
    });
    socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\n${headers.join('\r\n')}\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(first);
    try {
      return await answered;
    } finally {
      socket.destroy();
    }
  }

  test("json.js, urlencoded.js, text.js encoding 'should support brotli encoding', 'should throw 415 if there's no zstandard support', 'should 400 on malformed encoding': br, zstd and a broken gzip stream are each a 415 naming the coding, with Accept-Encoding: identity, the bytes never decoded", async () => {
    const codings: [coding: string, hex: string][] = [
      ['br', '8b06807b226e616d65223a22e8aeba227d03'],
      ['zstd', '28b52ffd200e7100007b226e616d65223a22e8aeba227d'],
      ['gzip', '1f8b080000000000000bab56cc4d55b2527ab16e97522d00515be1cc0e000000'],
    ];
    for (const [coding, hex] of codings) {
      for (const [path, reader, type] of [['/json', 'json()', JSON_TYPE], ['/text', 'text()', 'text/plain'], ['/form', 'form()', FORM_TYPE]] as const) {
        const error = `request body has Content-Encoding "${coding}", which ${reader} does not decode: send it unencoded, or read request.bytes() (the bytes as sent) and decode them`;
        assert.deepEqual(await sendTo(suite.server, 'POST', path, [`Content-Type: ${type}`, `Content-Encoding: ${coding}`], Buffer.from(hex, 'hex')), [415, { error }], `${path} ${coding}`);
      }
    }
  });

  test("json.js limit 'should 413 when inflated body over limit', encoding 'should 413 when inflated value exceeds limit', and Fastify's 'bodyLimit is applied to decoded content': a zip bomb (10 KB of gzip, 10 MB inflated) is a 415 answered before its bytes have all come: nothing is inflated, so nothing can exhaust memory", async () => {
    const bomb = gzipSync(Buffer.alloc(10_000_000));
    assert.ok(bomb.length > 64 && bomb.length < 20_000, `the bomb is ${bomb.length} bytes`);
    const answer = await answerBeforeBody('/json-unread', [`Content-Type: ${JSON_TYPE}`, 'Content-Encoding: gzip'], bomb.length, bomb.subarray(0, 64));
    assert.match(answer, /^HTTP\/1\.1 415 /);
    assert.match(answer, /\r\naccept-encoding: identity\r\n/i);
    assert.ok(answer.endsWith('\r\n\r\nrequest body has Content-Encoding "gzip", which json() does not decode: send it unencoded, or read request.bytes() (the bytes as sent) and decode them'), answer);
  });

  test("json.js, text.js, raw.js, urlencoded.js limit 'should not hang response': a chunked body past the limit, its client still sending, gets its 413 before it ends, and the connection is closed", async () => {
    const socket = await connect(suite.server);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(`POST /bytes HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${JSON_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `2800\r\n${'.'.repeat(10240)}\r\n`;
    for (let i = 0; i < 3; i++) socket.write(chunk);
    // The last chunk is never sent: the server answers without it, and closes.
    await closed;
    const answer = Buffer.concat(chunks).toString();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.ok(answer.endsWith('{"error":"request body too large: more than 1024 bytes, the limit is 1024 bytes"}'), answer);
  });
});
