// Bad request bodies: prototype poisoning in JSON, bytes that are not valid
// in the body's charset, multipart parts without a name, too many form fields
// or files, JSON nested too deep. Each is a clear 4xx naming the problem and
// the option that changes it, in process and over a real socket, and the
// server keeps serving.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { createApp, get, HttpResponse, JsonResponse, post, type BodyOptions, type Server } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { assertServes, startServer } from '../helpers.js';

/** A request body and its headers. */
interface Body {
  body: string | Uint8Array;
  headers: Record<string, string>;
}

const json = (text: string): Body => ({ body: text, headers: { 'content-type': 'application/json' } });
const urlencoded = (text: string): Body => ({ body: text, headers: { 'content-type': 'application/x-www-form-urlencoded' } });

/** A FormData as the bytes and Content-Type a browser would send. */
async function multipart(form: FormData): Promise<Body> {
  const encoded = new Response(form);
  return { body: new Uint8Array(await encoded.arrayBuffer()), headers: { 'content-type': encoded.headers.get('content-type')! } };
}

/** A multipart body built by hand from raw part headers and contents. */
function rawMultipart(parts: [headers: string, content: string][]): Body {
  const lines = parts.flatMap(([headers, content]) => ['--b', headers, '', content]);
  return { body: [...lines, '--b--', ''].join('\r\n'), headers: { 'content-type': 'multipart/form-data; boundary=b' } };
}

function formWith(fields: number, files = 0): FormData {
  const form = new FormData();
  for (let i = 0; i < fields; i++) form.append(`f${i}`, 'v');
  for (let i = 0; i < files; i++) form.append(`file${i}`, new File(['x'], `${i}.txt`, { type: 'text/plain' }));
  return form;
}

/** The text's UTF-8 bytes after a byte order mark (EF BB BF). */
const withBom = (text: string): Buffer => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/** Counts a form's entries, files apart. */
async function countForm(form: FormData): Promise<{ fields: number; files: number }> {
  let fields = 0;
  let files = 0;
  for (const [, value] of form) if (typeof value === 'string') fields++; else files++;
  return { fields, files };
}

function appWith(body?: BodyOptions) {
  return createApp({
    ...(body === undefined ? {} : { body }),
    bodyLimit: 4 * 1024 * 1024,
    routes: [
      post('/json', async (request) => {
        const parsed = await request.json<Record<string, unknown>>();
        const merged = Object.assign({}, parsed) as Record<string, unknown>;
        return new JsonResponse({ keys: Object.keys(parsed), poisoned: merged.isAdmin === true, parsed });
      }),
      post('/depth', async (request) => new JsonResponse({ ok: (await request.json()) !== undefined })),
      post('/text', async (request) => new HttpResponse(await request.text())),
      post('/form', async (request) => new JsonResponse(await countForm(await request.form()))),
      post('/entries', async (request) => new JsonResponse([...await request.form()])),
      post('/bytes', async (request) => new HttpResponse(await request.bytes(), { headers: { 'content-type': 'application/octet-stream' } })),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
}

const app = appWith();
const client = createTestClient(app);

/** A body Coda must refuse: where it goes, and the answer it gets. */
interface BadCase {
  what: string;
  path: string;
  body: () => Body | Promise<Body>;
  status: number;
  message: RegExp;
}

const INVALID_UTF8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}

const BAD: BadCase[] = [
  {
    what: 'a JSON "__proto__" key',
    path: '/json',
    body: () => json('{"a":1,"__proto__":{"isAdmin":true}}'),
    status: 400,
    message: /^JSON body has a "__proto__" key \(prototype poisoning\); createApp\(\{ body: \{ onProtoPoisoning \} \}\) /,
  },
  {
    what: 'a "__proto__" key nested deep, spelled with escapes',
    path: '/json',
    body: () => json('{"a":[{"b":{"\\u005f_proto__":{"isAdmin":true}}}]}'),
    status: 400,
    message: /^JSON body has a "__proto__" key/,
  },
  {
    what: 'a JSON "constructor.prototype" key',
    path: '/json',
    body: () => json('{"constructor":{"prototype":{"isAdmin":true}}}'),
    status: 400,
    message: /^JSON body has a "constructor\.prototype" key \(prototype poisoning\); createApp\(\{ body: \{ onConstructorPoisoning \} \}\) /,
  },
  {
    what: 'JSON with bytes that are not UTF-8',
    path: '/json',
    body: () => ({ body: INVALID_UTF8, headers: { 'content-type': 'application/json' } }),
    status: 400,
    message: /^request body is not valid UTF-8$/,
  },
  {
    what: 'text with bytes that are not UTF-8',
    path: '/text',
    body: () => ({ body: Buffer.from([0x63, 0x61, 0x66, 0xe9]), headers: { 'content-type': 'text/plain' } }),
    status: 400,
    message: /^request body is not valid UTF-8$/,
  },
  {
    what: 'a urlencoded form with bytes that are not UTF-8',
    path: '/form',
    body: () => ({ body: Buffer.from([0x61, 0x3d, 0xc3, 0x28]), headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    status: 400,
    message: /^request body is not valid UTF-8$/,
  },
  {
    what: 'a urlencoded value whose escapes are not UTF-8 (a=%ff)',
    path: '/form',
    body: () => urlencoded('ok=%C3%A9&a=%ff'),
    status: 400,
    message: /^the value of form field "a" has percent-escapes that are not valid UTF-8 \(%ff\)$/,
  },
  {
    what: 'a urlencoded name whose escapes end inside a UTF-8 sequence',
    path: '/form',
    body: () => urlencoded('x%E2%98=1'),
    status: 400,
    message: /^the form field name "x%E2%98" has percent-escapes that are not valid UTF-8 \(%E2%98\)$/,
  },
  {
    what: 'a urlencoded value with a long run of bad escapes, under a long name (both shown cut short)',
    path: '/form',
    body: () => urlencoded(`${'n'.repeat(1000)}=${'%ff'.repeat(1000)}`),
    status: 400,
    message: /^the value of form field "n{36}\.\.\." has percent-escapes that are not valid UTF-8 \((%ff){12}\.\.\.\)$/,
  },
  {
    what: 'a urlencoded form in a charset form() does not read',
    path: '/form',
    body: () => ({ body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-16le' } }),
    status: 415,
    message: /^unsupported charset "utf-16le" in Content-Type: form\(\) reads urlencoded bodies in UTF-8 or ISO-8859-1 only$/,
  },
  {
    what: 'a urlencoded form in a charset nobody knows',
    path: '/form',
    body: () => ({ body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=klingon' } }),
    status: 415,
    message: /^unsupported charset "klingon" in Content-Type: form\(\) reads urlencoded bodies in UTF-8 or ISO-8859-1 only$/,
  },
  {
    what: 'a charset of 10,000 characters: the 415 repeats 200 of them, not the header sent back',
    path: '/form',
    body: () => ({ body: 'a=1', headers: { 'content-type': `application/x-www-form-urlencoded; charset=${'k'.repeat(10_000)}` } }),
    status: 415,
    message: /^unsupported charset "k{200}…" in Content-Type: form\(\) reads urlencoded bodies in UTF-8 or ISO-8859-1 only$/,
  },
  {
    what: 'gzipped text',
    path: '/text',
    body: () => ({ body: gzipSync('caf\u00e9'), headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' } }),
    status: 415,
    message: /^request body has Content-Encoding "gzip", which text\(\) does not decode: send it unencoded, or read request\.bytes\(\) \(the bytes as sent\) and decode them$/,
  },
  {
    what: 'Brotli JSON',
    path: '/json',
    body: () => ({ body: brotliCompressSync('{"a":1}'), headers: { 'content-type': 'application/json', 'content-encoding': 'br' } }),
    status: 415,
    message: /^request body has Content-Encoding "br", which json\(\) does not decode/,
  },
  {
    what: 'a gzipped urlencoded form, its coding after identity',
    path: '/form',
    body: () => ({ body: gzipSync('a=1'), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'identity, gzip' } }),
    status: 415,
    message: /^request body has Content-Encoding "identity, gzip", which form\(\) does not decode/,
  },
  {
    what: 'a gzipped multipart form',
    path: '/form',
    body: async () => {
      const { body, headers } = await multipart(formWith(2));
      return { body: gzipSync(body), headers: { ...headers, 'content-encoding': 'gzip' } };
    },
    status: 415,
    message: /^request body has Content-Encoding "gzip", which form\(\) does not decode/,
  },
  {
    what: 'bytes that are not valid in the declared UTF-8',
    path: '/text',
    body: () => ({ body: Buffer.from([0x61, 0x80]), headers: { 'content-type': 'text/plain; charset=utf-8' } }),
    status: 400,
    message: /^request body is not valid UTF-8$/,
  },
  {
    what: 'bytes that are not valid in another declared charset',
    path: '/text',
    body: () => ({ body: Buffer.from([0x61, 0x00, 0x62]), headers: { 'content-type': 'text/plain; charset=utf-16le' } }),
    status: 400,
    message: /^request body is not valid UTF-16LE$/,
  },
  {
    what: 'a multipart field without a name',
    path: '/form',
    body: () => rawMultipart([['Content-Disposition: form-data; name="a"', '1'], ['Content-Disposition: form-data', '2']]),
    status: 400,
    message: /^malformed multipart body: part 2 has no name in its Content-Disposition$/,
  },
  {
    what: 'a multipart file without a name',
    path: '/form',
    body: () => rawMultipart([['Content-Disposition: form-data; filename="a.txt"\r\nContent-Type: text/plain', 'x']]),
    status: 400,
    message: /^malformed multipart body: part 1 has no name in its Content-Disposition$/,
  },
  {
    what: 'a multipart body that ends inside a file',
    path: '/form',
    body: () => ({
      body: '--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nthe start of a fi',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
    }),
    status: 400,
    message: /^malformed multipart body: Unexpected end of (form|file)$/,
  },
  {
    what: 'a urlencoded form with 1,001 fields',
    path: '/form',
    body: () => urlencoded(Array.from({ length: 1001 }, (_, i) => `f${i}=v`).join('&')),
    status: 413,
    message: /^form has more than 1000 fields; raise createApp\(\{ body: \{ maxFields \} \}\) to allow more$/,
  },
  {
    what: 'a multipart form with 1,001 fields',
    path: '/form',
    body: () => multipart(formWith(1001)),
    status: 413,
    message: /^form has more than 1000 fields; raise createApp\(\{ body: \{ maxFields \} \}\) to allow more$/,
  },
  {
    what: 'a multipart form with 950 fields and 51 files (fields and files count together)',
    path: '/form',
    body: () => multipart(formWith(950, 51)),
    status: 413,
    message: /^form has more than 1000 fields; /,
  },
  {
    what: 'a multipart form with 101 files',
    path: '/form',
    body: () => multipart(formWith(0, 101)),
    status: 413,
    message: /^form has more than 100 files; raise createApp\(\{ body: \{ maxFiles \} \}\) to allow more$/,
  },
  {
    what: 'JSON nested 65 deep',
    path: '/depth',
    body: () => json(nested(65)),
    status: 400,
    message: /^JSON body nested deeper than 64 levels; raise createApp\(\{ body: \{ maxJsonDepth \} \}\) to allow more$/,
  },
  {
    what: 'JSON nested 65 deep after a string that ends in a backslash',
    path: '/depth',
    body: () => json(`["a\\\\",${nested(64)}]`),
    status: 400,
    message: /^JSON body nested deeper than 64 levels; /,
  },
  {
    what: 'JSON nested 100,000 deep',
    path: '/depth',
    body: () => json(`{"a":${nested(100_000)}}`),
    status: 400,
    message: /^JSON body nested deeper than 64 levels; /,
  },
];

/** Bodies at the limits, or that look like bad ones and are not: each is read. */
const GOOD: [what: string, path: string, body: () => Body | Promise<Body>, expected: unknown][] = [
  ['a "constructor" key without "prototype"', '/json', () => json('{"constructor":{"name":"x"}}'),
    { keys: ['constructor'], poisoned: false, parsed: { constructor: { name: 'x' } } }],
  ['"__proto__" inside a string value', '/json', () => json('{"note":"__proto__"}'),
    { keys: ['note'], poisoned: false, parsed: { note: '__proto__' } }],
  ['JSON nested 64 deep', '/depth', () => json(nested(64)), { ok: true }],
  ['brackets and escaped quotes inside JSON strings, which do not nest', '/depth',
    () => json(JSON.stringify([{ s: `\\"${'['.repeat(100)}`, t: '{'.repeat(100) }])), { ok: true }],
  ['a urlencoded form with 1,000 fields (empty segments do not count)', '/form',
    () => urlencoded(`&&${Array.from({ length: 1000 }, (_, i) => `f${i}=v`).join('&')}&&`), { fields: 1000, files: 0 }],
  ['a multipart form with 900 fields and 100 files', '/form', () => multipart(formWith(900, 100)), { fields: 900, files: 100 }],
  ['valid UTF-8 text', '/text', () => ({ body: 'caf\u00e9 \u2603', headers: { 'content-type': 'text/plain' } }), 'caf\u00e9 \u2603'],
  ['a urlencoded form in UTF-8: escapes decoded, + a space, a broken escape kept as sent, an escaped BOM kept', '/entries',
    () => urlencoded('a=caf%C3%A9+%E2%98%83&b=1%2B1&c=100%&d=%zz&e=%EF%BB%BFx&f'),
    [['a', 'caf\u00e9 \u2603'], ['b', '1+1'], ['c', '100%'], ['d', '%zz'], ['e', '\ufeffx'], ['f', '']]],
  ['a urlencoded form in ISO-8859-1: escapes and raw bytes read as text() reads them', '/entries',
    () => ({
      body: Buffer.concat([Buffer.from('name=Ren%E9&raw='), Buffer.from([0xe9]), Buffer.from('&euro=%80')]),
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' },
    }),
    [['name', 'Ren\u00e9'], ['raw', '\u00e9'], ['euro', '\u20ac']]],
  ['a urlencoded form in latin1', '/entries',
    () => ({ body: 'caf%E9=%FF', headers: { 'content-type': 'application/x-www-form-urlencoded; charset="latin1"' } }),
    [['caf\u00e9', '\u00ff']]],
  ['text whose Content-Type has "charset=" only inside another parameter\'s quoted value: no charset, so UTF-8 (it was read as UTF-16LE)', '/text',
    () => ({ body: 'caf\u00e9', headers: { 'content-type': 'text/plain; format="flowed; charset=utf-16le"' } }), 'caf\u00e9'],
  ['a urlencoded form whose first charset is quoted, with a quoted-pair, and a second follows: the first counts', '/entries',
    () => ({ body: 'caf%E9=%FF', headers: { 'content-type': 'application/x-www-form-urlencoded; x="\\"; charset=utf-8"; charset="lat\\in1"; charset=utf-8' } }),
    [['caf\u00e9', '\u00ff']]],
  ['text with Content-Encoding: identity (no coding)', '/text',
    () => ({ body: 'caf\u00e9', headers: { 'content-type': 'text/plain', 'content-encoding': 'Identity' } }), 'caf\u00e9'],
  ['text after a UTF-8 byte order mark, no charset named (the mark dropped, as TextDecoder drops it)', '/text',
    () => ({ body: withBom('caf\u00e9'), headers: { 'content-type': 'text/plain' } }), 'caf\u00e9'],
  ['text after a UTF-8 byte order mark, charset=utf-8 (the mark dropped)', '/text',
    () => ({ body: withBom('caf\u00e9'), headers: { 'content-type': 'text/plain; charset=utf-8' } }), 'caf\u00e9'],
  ['JSON after a UTF-8 byte order mark, no charset named', '/json', () => ({ body: withBom('{"a":1}'), headers: { 'content-type': 'application/json' } }),
    { keys: ['a'], poisoned: false, parsed: { a: 1 } }],
  ['a urlencoded form after a UTF-8 byte order mark (its first name without it)', '/entries',
    () => ({ body: withBom('a=1'), headers: { 'content-type': 'application/x-www-form-urlencoded' } }), [['a', '1']]],
];

async function read(body: string | Buffer, type: string | null): Promise<unknown> {
  return type?.includes('json') ? JSON.parse(body.toString()) : body.toString();
}

describe('bad request bodies, in process', () => {
  for (const bad of BAD) {
    test(`${bad.what}: ${bad.status}`, async () => {
      const { body, headers } = await bad.body();
      const res = await client.post(bad.path, { body, headers });
      assert.equal(res.status, bad.status);
      assert.match(await res.text(), bad.message);
    });
  }

  for (const [what, path, body, expected] of GOOD) {
    test(`${what}: read`, async () => {
      const res = await client.post(path, await body());
      assert.equal(res.status, 200, await res.text());
      assert.deepEqual(await read(res.body, res.headers.get('content-type')), expected);
    });
  }

  test('a 100,000-deep JSON body is refused in linear time', async () => {
    const { body, headers } = json(nested(100_000));
    const started = performance.now();
    const res = await client.post('/depth', { body, headers });
    assert.equal(res.status, 400);
    assert.ok(performance.now() - started < 1_000, 'refused quickly');
  });
});

describe('bad request bodies, over a real socket', () => {
  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  for (const bad of BAD) {
    test(`${bad.what}: ${bad.status}, and the server keeps serving`, async () => {
      const { body, headers } = await bad.body();
      const res = await fetch(`${server.url}${bad.path}`, { method: 'POST', body, headers });
      assert.equal(res.status, bad.status);
      assert.match(await res.text(), bad.message);
      await assertServes(server, '/ok', 'ok');
    });
  }

  for (const [what, path, body, expected] of GOOD) {
    test(`${what}: read`, async () => {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', ...await body() });
      assert.equal(res.status, 200);
      // Bytes, not res.text(): fetch would drop a byte order mark the server let through.
      assert.deepEqual(await read(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')), expected);
    });
  }
});

describe('a request body with a Content-Encoding', () => {
  const gzipped = gzipSync(JSON.stringify({ a: 'caf\u00e9' }));
  const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };

  test("json()'s 415 says, with Accept-Encoding, which coding Coda reads: identity (RFC 9110 15.5.16)", async () => {
    const res = await client.post('/json', { body: gzipped, headers });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('accept-encoding'), 'identity');
  });

  test('bytes() gives the bytes as sent, for the app to decode', async () => {
    const res = await client.post('/bytes', { body: gzipped, headers });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(gunzipSync(res.body).toString()), { a: 'caf\u00e9' });
  });
});

describe('body options', () => {
  const poisoned = '{"a":1,"__proto__":{"isAdmin":true},"constructor":{"prototype":{"isAdmin":true}}}';

  test("'remove' drops the poisoning keys", async () => {
    const remover = createTestClient(appWith({ onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove' }));
    const res = await remover.post('/json', json(poisoned));
    assert.deepEqual(await res.json(), { keys: ['a'], poisoned: false, parsed: { a: 1 } });
  });

  test("'ignore' keeps them, as JSON.parse does", async () => {
    const ignorer = createTestClient(appWith({ onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' }));
    const res = await ignorer.post('/json', json(poisoned));
    const answer = await res.json() as { keys: string[]; poisoned: boolean };
    assert.deepEqual(answer.keys, ['a', '__proto__', 'constructor']);
    assert.equal(answer.poisoned, true);
  });

  test('each check has its own option', async () => {
    const protoOnly = createTestClient(appWith({ onConstructorPoisoning: 'ignore' }));
    let res = await protoOnly.post('/json', json('{"constructor":{"prototype":{}}}'));
    assert.equal(res.status, 200);
    res = await protoOnly.post('/json', json(poisoned));
    assert.match(await res.text(), /"__proto__" key/);
    const constructorOnly = createTestClient(appWith({ onProtoPoisoning: 'remove' }));
    res = await constructorOnly.post('/json', json(poisoned));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /"constructor\.prototype" key/);
  });

  test('maxFields, maxFiles and maxJsonDepth change the limits', async () => {
    const strict = createTestClient(appWith({ maxFields: 2, maxFiles: 0, maxJsonDepth: 2 }));
    let res = await strict.post('/form', urlencoded('a=1&b=2'));
    assert.deepEqual(await res.json(), { fields: 2, files: 0 });
    res = await strict.post('/form', urlencoded('a=1&b=2&c=3'));
    assert.equal(res.status, 413);
    assert.match(await res.text(), /^form has more than 2 fields; /);
    res = await strict.post('/form', await multipart(formWith(3)));
    assert.equal(res.status, 413);
    res = await strict.post('/form', await multipart(formWith(1, 1)));
    assert.equal(res.status, 413);
    assert.match(await res.text(), /^form has more than 0 files; /);
    res = await strict.post('/depth', json('[[1]]'));
    assert.equal(res.status, 200);
    res = await strict.post('/depth', json('[{"a":[]}]'));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^JSON body nested deeper than 2 levels; /);
  });

  test('a deep body is read when maxJsonDepth allows it', async () => {
    const deep = createTestClient(appWith({ maxJsonDepth: 200_000 }));
    const res = await deep.post('/depth', json(nested(100_000)));
    assert.deepEqual(await res.json(), { ok: true });
  });

  test('createApp refuses bad body options, naming them', () => {
    assert.throws(() => appWith({ maxField: 10 } as BodyOptions), {
      name: 'TypeError', message: 'createApp() body: unknown option "maxField"; did you mean "maxFields"?',
    });
    assert.throws(() => appWith(null as unknown as BodyOptions), { name: 'TypeError', message: /^createApp\(\) body takes an options object, got null/ });
    assert.throws(() => appWith({ maxFields: 0 }), { name: 'RangeError', message: /^body\.maxFields must be a whole number of at least 1, got number 0$/ });
    assert.throws(() => appWith({ maxFiles: -1 }), { name: 'RangeError', message: /^body\.maxFiles must be a whole number of at least 0/ });
    assert.throws(() => appWith({ maxJsonDepth: 1.5 }), { name: 'RangeError', message: /^body\.maxJsonDepth must be a whole number of at least 1/ });
    assert.throws(() => appWith({ maxFields: '10' as unknown as number }), { name: 'RangeError', message: /^body\.maxFields must be/ });
    assert.throws(() => appWith({ onProtoPoisoning: 'drop' as 'remove' }), {
      name: 'TypeError', message: `body.onProtoPoisoning must be 'error', 'remove' or 'ignore', got string "drop"`,
    });
    assert.throws(() => appWith({ onConstructorPoisoning: true as unknown as 'error' }), {
      name: 'TypeError', message: `body.onConstructorPoisoning must be 'error', 'remove' or 'ignore', got boolean true`,
    });
  });
});
