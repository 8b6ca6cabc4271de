// Request bodies as Fastify tests its parsers (test/content-parser.test.js,
// test/content-type.test.js, test/custom-parser.1.test.js, and the body tests
// test/helper.js runs for each method, test/delete.test.js), and as
// expressjs/body-parser tests its json, urlencoded, text and raw parsers
// (test/json.js, test/urlencoded.js, test/text.js, test/raw.js), over a real socket.
import assert from 'node:assert/strict';
import { gzipSync, deflateSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, post, route, type View } from 'coda-http';
import { connect, memoryLogger, rawRequest, serveForBadInput, serveForSuite, startServer } from '../helpers.js';
import { reading, sendTo } from './body-readers.js';

describe("json()'s Content-Type, as Fastify tests its parsers", () => {
  const app = createApp({ logger: memoryLogger().logger, routes: [post('/json', async (request) => new JsonResponse(await request.json()))] });

  const suite = serveForSuite(app);

  async function withType(type: string): Promise<number> {
    const response = await fetch(`${suite.server.url}/json`, { method: 'POST', headers: { 'content-type': type }, body: '{"hello":"world"}' });
    await response.text();
    return response.status;
  }

  test("'The charset should not interfere with the content type handling', and media types are case-insensitive", async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;Charset=UTF-8', 'application/vnd.api+json', 'application/merge-patch+json', 'application/a+b+json']) {
      assert.equal(await withType(type), 200, type);
    }
  });

  test("'Safeguard against malicious content-type' and 'content-type spoofing': an Object.prototype name, or JSON named in a parameter, is not JSON (415)", async () => {
    for (const type of ['constructor', '__proto__', 'constructor; charset=utf-8', 'text/plain; content-type="application/json"']) {
      assert.equal(await withType(type), 415, type);
    }
  });

  test("'indicates media type is not correct format': a subtype that is not one token is not JSON (415), a +json suffix with no name before it neither", async () => {
    for (const type of ['application/json/extra/slashes', 'application/json(garbage)', 'application/json whatever', 'application/json@evil', 'application/foo bar+json', 'application/x/y+json', 'application/<script>+json', 'application/+json']) {
      assert.equal(await withType(type), 415, type);
    }
  });
});

describe("json() on any method, and what is not JSON, as Fastify's parser tests have it", () => {
  const app = createApp({ logger: memoryLogger().logger, routes: [route(['GET', 'POST', 'DELETE', 'OPTIONS'], '/json', reading((request) => request.json()))] });
  const suite = serveForSuite(app);
  const send = (method: string, headers: string[], body = ''): Promise<[number, unknown]> => sendTo(suite.server, method, '/json', headers, body);

  test("delete.test.js 'shorthand - delete with body', and helper.js's '… - correctly replies' run for OPTIONS and DELETE: a JSON body on DELETE, OPTIONS, and GET too, is read", async () => {
    for (const method of ['GET', 'DELETE', 'OPTIONS']) {
      assert.deepEqual(await send(method, ['Content-Type: application/json'], '{"hello":"world"}'), [200, { body: { hello: 'world' } }], method);
    }
  });

  test("helper.js '… should fail with empty body and application/json content-type' (FST_ERR_CTP_EMPTY_JSON_BODY): an empty or blank JSON body is a 400 saying so, on POST and DELETE alike", async () => {
    for (const [method, body] of [['POST', ''], ['POST', ' \r\n '], ['DELETE', '']] as const) {
      assert.deepEqual(await send(method, ['Content-Type: application/json'], body), [400, { error: 'empty JSON body: the Content-Type is JSON but the body has nothing to parse' }], `${method} ${JSON.stringify(body)}`);
    }
  });

  test("helper.js '… returns 415 - incorrect media type if body is not json', content-parser.test.js 'Error thrown 415 from content type is null …': another type, none, or a name JSON only begins is a 415 naming it; a Content-Type with parameters but no media type is a 415 that shows what was sent (it said \"got none\")", async () => {
    const cases: [string[], string][] = [
      [['Content-Type: application/x-unknown'], 'got application/x-unknown'],
      [['Content-Type: application/jsonx'], 'got application/jsonx'],
      [['Content-Type: text/json'], 'got text/json'],
      [[], 'got none'],
      [['Content-Type: '], 'got none'],
      [['Content-Type: ; charset=utf-8'], 'got "; charset=utf-8", which names no media type'],
    ];
    for (const [headers, got] of cases) {
      assert.deepEqual(await send('POST', headers, '{"hello":"world"}'), [415, { error: `json() expects Content-Type application/json, ${got}` }], headers.join());
    }
  });
});

describe("body-parser's json, urlencoded, text and raw parsers, as Coda's readers take them", () => {
  const { logger, lines } = memoryLogger();
  const readers: Record<string, View> = {
    '/json': reading((request) => request.json()),
    '/text': reading((request) => request.text()),
    '/form': reading((request) => request.form()),
    '/bytes': reading((request) => request.bytes()),
    // Two readers of one body, as two of body-parser's parsers in a row.
    '/twice': reading(async (request) => [await request.text(), await request.json(), (await request.bytes()).length]),
  };
  const app = createApp({
    logger,
    bodyLimit: 1000,
    routes: [...Object.entries(readers).map(([path, view]) => route(['GET', 'POST'], path, view)), get('/ok', () => new HttpResponse('ok'))],
  });
  const suite = serveForBadInput(app, lines);
  const send = (path: string, headers: string[], body?: string | Buffer): Promise<[number, unknown]> => sendTo(suite.server, 'POST', path, headers, body);
  const JSON_TYPE = 'Content-Type: application/json';
  const FORM_TYPE = 'Content-Type: application/x-www-form-urlencoded';

  test("'should 400 when content-length larger than request body' (json, urlencoded, text, raw): a body shorter than its Content-Length, the client then closing its side, is a 400 naming the Content-Length (it said llhttp's \"Invalid EOF state\"); so is a head or a chunked body cut short", async () => {
    const cases: [data: string, words: string][] = [
      [`POST /json HTTP/1.1\r\nHost: x\r\n${JSON_TYPE}\r\nContent-Length: 20\r\n\r\n{"str":`, 'its body was shorter than its Content-Length (or a chunked body lacked its last chunk)'],
      [`POST /bytes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n`, 'its body was shorter than its Content-Length (or a chunked body lacked its last chunk)'],
      ['POST /json HTTP/1.1\r\nHost: x\r\nContent-Ty', 'its head was cut short'],
    ];
    for (const [data, words] of cases) {
      const socket = await connect(suite.server);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.end(data);
      await closed;
      const answer = Buffer.concat(chunks).toString();
      assert.match(answer, /^HTTP\/1\.1 400 /, data);
      assert.ok(answer.endsWith(`\r\n\r\nthe client closed its side of the connection before the request was complete: ${words}\n`), answer);
    }
  });

  test("'should 400 when invalid content-length': a Content-Length that is not a number is a 400 naming it, before the app", async () => {
    const response = await rawRequest(suite.server, `POST /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${JSON_TYPE}\r\nContent-Length: 2x\r\n\r\n{}`);
    assert.deepEqual([response.status, response.body.toString()], [400, 'the request is malformed: Invalid character in Content-Length\n']);
  });

  test("'should 413 when over limit with Content-Length' and '… with chunked encoding', 'should accept number of bytes' (json, urlencoded, text, raw), Fastify's 'bodyLimit should use byte length for UTF-8 strings, not character length': past bodyLimit, in bytes, every reader gives a 413 naming the limit; at it, the body is read", async () => {
    for (const path of ['/json', '/text', '/form', '/bytes']) {
      // form() refuses another type before it reads: a form's type, for it to reach the limit.
      const type = path === '/form' ? FORM_TYPE : JSON_TYPE;
      assert.deepEqual(await send(path, [type], `"${'a'.repeat(999)}"`), [413, { error: 'request body too large: Content-Length 1001, the limit is 1000 bytes' }], path);
      const chunked = ['Transfer-Encoding: chunked', type];
      assert.deepEqual(await send(path, chunked, `1f4\r\n"${'a'.repeat(499)}\r\n1f5\r\n${'a'.repeat(500)}"\r\n0\r\n\r\n`), [413, { error: 'request body too large: more than 1000 bytes, the limit is 1000 bytes' }], path);
    }
    assert.deepEqual(await send('/json', [JSON_TYPE], `"${'a'.repeat(998)}"`), [200, { body: 'a'.repeat(998) }]);
    // 334 characters, 1,002 bytes.
    const snowmen = '\u2603'.repeat(334);
    assert.deepEqual(await send('/text', ['Transfer-Encoding: chunked'], `3ea\r\n${snowmen}\r\n0\r\n\r\n`), [413, { error: 'request body too large: more than 1000 bytes, the limit is 1000 bytes' }]);
    assert.deepEqual(await send('/text', [], snowmen.slice(1)), [200, { body: snowmen.slice(1) }]);
  });

  test("'should handle Content-Length: 0', 'should handle empty message-body', 'should handle no message-body' (urlencoded, text, raw): an empty body, sent with Content-Length: 0, as an empty chunked body, or a GET with none, is '' to text(), no bytes, and a form without entries (json()'s 400 for it is Fastify's, tested above)", async () => {
    const empty: Record<string, unknown> = { '/text': '', '/bytes': '', '/form': [] };
    for (const [path, body] of Object.entries(empty)) {
      assert.deepEqual(await send(path, [FORM_TYPE, 'Content-Length: 0']), [200, { body }], path);
      assert.deepEqual(await send(path, [FORM_TYPE, 'Transfer-Encoding: chunked'], '0\r\n\r\n'), [200, { body }], path);
      assert.deepEqual(await sendTo(suite.server, 'GET', path, [FORM_TYPE]), [200, { body }], path);
    }
  });

  test("'should parse when content-length != char length' and 'should parse utf-8' (json, urlencoded, text): a UTF-8 body with more bytes than characters is read whole", async () => {
    assert.deepEqual(await send('/json', [JSON_TYPE], '{"test":"\u2603 caf\u00e9"}'), [200, { body: { test: '\u2603 caf\u00e9' } }]);
    assert.deepEqual(await send('/text', ['Content-Type: text/plain'], '\u2603 caf\u00e9 \u{1f600}'), [200, { body: '\u2603 caf\u00e9 \u{1f600}' }]);
    assert.deepEqual(await send('/form', [FORM_TYPE], 'test=\u2603&caf\u00e9=%E2%98%83'), [200, { body: [['test', '\u2603'], ['caf\u00e9', '\u2603']] }]);
  });

  test("json.js 'should 400 for bad token', 'should 400 for incomplete', 'should 400 when only whitespace', 'should allow leading whitespaces in JSON' and 'should handle all RFC 7159 whitespace characters before JSON': malformed JSON is a 400 saying where; RFC 8259 whitespace around a value is allowed, and nothing else", async () => {
    const cases: [body: string, answer: [number, unknown]][] = [
      ['{:', [400, { error: "malformed JSON body: Expected property name or '}' in JSON at position 1 (line 1 column 2)" }]],
      ['{"user"', [400, { error: "malformed JSON body: Expected ':' after property name in JSON at position 7 (line 1 column 8)" }]],
      ['{"a":1}x', [400, { error: 'malformed JSON body: Unexpected non-whitespace character after JSON at position 7 (line 1 column 8)' }]],
      [' \t\n\r', [400, { error: 'empty JSON body: the Content-Type is JSON but the body has nothing to parse' }]],
      [' \t\n\r{"user":"tobi"} \t\n\r', [200, { body: { user: 'tobi' } }]],
      ['\u00a0{"user":"tobi"}', [400, { error: 'malformed JSON body: Unexpected token \'\u00a0\', "\u00a0{"user":"tobi"}" is not valid JSON' }]],
    ];
    for (const [body, answer] of cases) assert.deepEqual(await send('/json', [JSON_TYPE], body), answer, JSON.stringify(body));
  });

  test("json.js 'should parse primitives' (body-parser's strict: false; Fastify reads them too): a top-level string, number, true, false or null is a JSON text (RFC 8259) and is read", async () => {
    for (const [body, value] of [['"str"', 'str'], ['12.5', 12.5], ['true', true], ['false', false], ['null', null]] as const) {
      assert.deepEqual(await send('/json', [JSON_TYPE], body), [200, { body: value }], body);
    }
  });

  test("json.js 'should parse utf-16' and 'should work with different charsets': a body labelled utf-16 is read in the byte order its byte order mark says, big-endian too (it was read as little-endian: other characters, a 400 from json() and wrong text from text()), and little-endian without one", async () => {
    const bigEndian = Buffer.from('feff007b0022006e0061006d00650022003a00228bba0022007d', 'hex');
    assert.deepEqual(await send('/json', ['Content-Type: application/json; charset=utf-16'], bigEndian), [200, { body: { name: '\u8bba' } }]);
    assert.deepEqual(await send('/text', ['Content-Type: text/plain; charset=UTF-16'], bigEndian), [200, { body: '{"name":"\u8bba"}' }]);
    assert.deepEqual(await send('/text', ['Content-Type: text/plain; charset=utf-16be'], Buffer.from('fffe68006900', 'hex')), [200, { body: 'hi' }]);
    assert.deepEqual(await send('/text', ['Content-Type: text/plain; charset=utf-16'], Buffer.from('68006900', 'hex')), [200, { body: 'hi' }]);
  });

  test("'should work with different charsets', 'should parse codepage charsets', 'should fail on unknown charset' / 'should 415 on unknown charset' (json, text, urlencoded): a body is decoded in its charset; one no decoder knows (utf-32 among them) is a 415 naming it; bytes not valid in it a 400", async () => {
    assert.deepEqual(await send('/json', ['Content-Type: application/json; charset=UTF-16LE'], Buffer.from('{"name":"\u8bba"}', 'utf16le')), [200, { body: { name: '\u8bba' } }]);
    assert.deepEqual(await send('/text', ['Content-Type: text/plain; charset=koi8-r'], Buffer.from([0xed, 0xc5, 0xd4, 0xc1])), [200, { body: '\u041c\u0435\u0442\u0430' }]);
    assert.deepEqual(await send('/json', ['Content-Type: application/json; charset=utf-16'], Buffer.from([0x7b, 0x00, 0x7d])), [400, { error: 'request body is not valid UTF-16LE' }]);
    for (const [path, type] of [['/json', 'application/json'], ['/text', 'text/plain'], ['/form', 'application/x-www-form-urlencoded']]) {
      for (const charset of ['x-bogus', 'utf-32']) {
        assert.deepEqual(await send(path!, [`Content-Type: ${type}; charset=${charset}`], '{}'), [415, { error: `unsupported charset "${charset}" in Content-Type${path === '/form' ? ': form() reads urlencoded bodies in UTF-8 or ISO-8859-1 only' : ''}` }], `${path} ${charset}`);
      }
    }
  });

  test("'should support identity encoding', 'should be case-insensitive', 'should 415 on unknown encoding', and gzip and deflate (json, urlencoded, text): identity is read; any coding else, whatever its case, is a 415 naming it, never the compressed bytes parsed; bytes() ('raw') gives them as sent", async () => {
    assert.deepEqual(await send('/json', [JSON_TYPE, 'Content-Encoding: Identity'], '{"name":"tobi"}'), [200, { body: { name: 'tobi' } }]);
    const gzipped = gzipSync('{"name":"tobi"}');
    const codings: [coding: string, body: Buffer][] = [['GZIP', gzipped], ['deflate', deflateSync('name=tobi')], ['nulls', Buffer.from('{}')]];
    for (const [coding, body] of codings) {
      for (const [path, reader] of [['/json', 'json()'], ['/form', 'form()'], ['/text', 'text()']]) {
        const type = path === '/form' ? FORM_TYPE : JSON_TYPE;
        const error = `request body has Content-Encoding "${coding}", which ${reader} does not decode: send it unencoded, or read request.bytes() (the bytes as sent) and decode them`;
        assert.deepEqual(await send(path!, [type, `Content-Encoding: ${coding}`], body), [415, { error }], `${path} ${coding}`);
      }
    }
    assert.deepEqual(await send('/bytes', [JSON_TYPE, 'Content-Encoding: gzip'], gzipped), [200, { body: gzipped.toString('hex') }]);
  });

  test("urlencoded.js 'should parse x-www-form-urlencoded', 'should not parse extended syntax', 'should parse multiple key instances': names are taken as sent (a[b] and __proto__ are names, no object is built), + is a space, a broken escape is kept", async () => {
    const body = 'user=tobi+ferret&a[b]=1&a[c][d]=2&a=3&a=4&__proto__=x&constructor[prototype][y]=1&bad=%zz&pct=%2B%20';
    assert.deepEqual(await send('/form', [FORM_TYPE], body), [200, {
      body: [['user', 'tobi ferret'], ['a[b]', '1'], ['a[c][d]', '2'], ['a', '3'], ['a', '4'], ['__proto__', 'x'], ['constructor[prototype][y]', '1'], ['bad', '%zz'], ['pct', '+ ']],
    }]);
  });

  test("urlencoded.js parameterLimit 'should 413 if over limit' and 'should work when at the limit': 1,001 fields are a 413 naming maxFields, 1,000 are read", async () => {
    const fields = (count: number): string => Array.from({ length: count }, (_, i) => i.toString(36)).join('&');
    const big = createApp({ logger: memoryLogger().logger, routes: [post('/form', readers['/form']!)] });
    const server = await startServer(big);
    try {
      assert.deepEqual(await sendTo(server, 'POST', '/form', [FORM_TYPE], fields(1001)), [413, { error: 'form has more than 1000 fields; raise createApp({ body: { maxFields } }) to allow more' }]);
      const [status, answer] = await sendTo(server, 'POST', '/form', [FORM_TYPE], fields(1000));
      assert.deepEqual([status, (answer as { body: unknown[] }).body.length], [200, 1000]);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test("'should handle consumed stream' and 'should handle duplicated middleware' (json, urlencoded, text, raw): a body read twice, by text(), json() and bytes() in turn, is the same body each time", async () => {
    assert.deepEqual(await send('/twice', [JSON_TYPE], '{"user":"\u2603"}'), [200, { body: ['{"user":"\u2603"}', { user: '\u2603' }, 14] }]);
  });
});
