// Multipart and upload cases of Django (tests/file_uploads), Starlette
// (tests/test_formparsers.py) and @fastify/multipart (test/), ported to
// request.form(): each test names the case it ports. Over the test client,
// and over a real socket where the bytes on the wire are the point (a body
// cut mid-part, a client gone mid-upload, a file past the limit sent
// chunked). form-body.peers.test.ts holds busboy's cases and undici's
// formData() comparison; none is repeated here. Where Coda answers otherwise
// on purpose, the test says so and docs/lifecycle.md why.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { ClientDisconnected, createApp, get, HttpResponse, JsonResponse, post, type HttpRequest } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { connect, deferred, LEVEL, memoryLogger, parseResponse, rawRequest, served } from '../helpers.js';

/** One part of a multipart body with boundary B, with its header lines. */
const part = (headers: string, content: string): string => `--B\r\n${headers}\r\n\r\n${content}\r\n`;
const field = (name: string, value: string): string => part(`Content-Disposition: form-data; name="${name}"`, value);
const file = (name: string, filename: string, content: string, type = 'application/octet-stream'): string =>
  part(`Content-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}`, content);
const END = '--B--\r\n';
const MULTIPART = 'multipart/form-data; boundary=B';

/** A form's entries as JSON can carry them: a field as its text, a file as its name, type, size and SHA-1. */
async function describeForm(request: HttpRequest): Promise<unknown[]> {
  const entries: unknown[] = [];
  for (const [name, value] of await request.form()) {
    if (typeof value === 'string') entries.push([name, value]);
    else entries.push([name, { filename: value.name, type: value.type, size: value.size, sha1: sha1(new Uint8Array(await value.arrayBuffer())) }]);
  }
  return entries;
}

const sha1 = (bytes: Uint8Array | string): string => createHash('sha1').update(bytes).digest('hex');

const { logger, lines } = memoryLogger();
const app = createApp({
  logger,
  routes: [
    post('/form', async (request) => new JsonResponse(await describeForm(request))),
    post('/big', async (request) => new JsonResponse(await describeForm(request)), { bodyLimit: 16 * 1024 * 1024 }),
    post('/schema', async (request) => {
      // A schema that keeps what it is given: the object form(schema) builds from the entries.
      const fields = await request.form({ '~standard': { version: 1, vendor: 'test', validate: (value: unknown) => ({ value }) } }) as Record<string, unknown>;
      return new JsonResponse({ keys: Object.keys(fields), prototype: Object.getPrototypeOf(fields), polluted: 'polluted' in {} });
    }),
    post('/ignored', () => new HttpResponse('not read')),
  ],
});
const client = createTestClient(app);
after(() => assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), [], 'bad input is never logged as a server error'));

async function send(body: string | Buffer, options: { path?: string; type?: string } = {}): Promise<{ status: number; text: string }> {
  const response = await client.post(options.path ?? '/form', { body: typeof body === 'string' ? Buffer.from(body) : body, headers: { 'content-type': options.type ?? MULTIPART } });
  return { status: response.status, text: await response.text() };
}

/** The entries of a body form() reads, failing with the answer when it does not. */
async function entries(body: string | Buffer, options: { path?: string; type?: string } = {}): Promise<unknown> {
  const answer = await send(body, options);
  assert.equal(answer.status, 200, answer.text);
  return JSON.parse(answer.text);
}

const fileEntry = (filename: string, content: string | Uint8Array, type = 'application/octet-stream') => ({ filename, type, size: Buffer.from(content).length, sha1: sha1(content) });

describe('Django file_uploads, over the test client', () => {
  test("test_simple_upload and Starlette's test_multipart_request_mixed_files_and_data: fields and files a FormData sends come back in order, every byte value of a file intact", async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const form = new FormData();
    form.append('name', 'Ringo');
    form.append('file_field', new File([bytes], 'tests.py', { type: 'application/octet-stream' }));
    form.append('name', 'Paul');
    const response = await client.post('/form', { form });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), [['name', 'Ringo'], ['file_field', fileEntry('tests.py', bytes)], ['name', 'Paul']]);
  });

  test('test_large_upload: a 2 MiB and a 10 MiB file under a route bodyLimit of 16 MiB arrive whole (their SHA-1 the same)', async () => {
    const small = Buffer.alloc(2 ** 21, 'a');
    const large = Buffer.alloc(10 * 2 ** 20, 'a');
    // The head of each file part, then its content as bytes: a 10 MiB string of the body would cost more than the body.
    const fileHead = (name: string, filename: string) => Buffer.from(file(name, filename, '').slice(0, -2));
    const whole = Buffer.concat([Buffer.from(field('name', 'Ringo')), fileHead('file_field1', 'a.file1'), small, Buffer.from('\r\n'), fileHead('file_field2', 'b.file2'), large, Buffer.from(`\r\n${END}`)]);
    assert.deepEqual(await entries(whole, { path: '/big' }), [['name', 'Ringo'], ['file_field1', fileEntry('a.file1', small)], ['file_field2', fileEntry('b.file2', large)]]);
  });

  test("test_filename_case_preservation: a mixed-case filename is kept as sent, and so is the file's content ending in a bare LF", async () => {
    const body = '--oUrBoUnDaRyStRiNg\r\nContent-Disposition: form-data; name="file_field"; filename="MiXeD_cAsE.txt"\r\nContent-Type: application/octet-stream\r\n\r\nfile contents\n\r\n--oUrBoUnDaRyStRiNg--\r\n';
    assert.deepEqual(await entries(body, { type: 'multipart/form-data; boundary=oUrBoUnDaRyStRiNg' }), [['file_field', fileEntry('MiXeD_cAsE.txt', 'file contents\n')]]);
  });

  test("test_dangerous_file_names: every traversal candidate's directories are dropped (hax0rd.txt); HTML entities stay as sent, no separator in them (Django unescapes them, then drops the directory)", async () => {
    const candidates = ['/tmp/hax0rd.txt', 'C:\\Windows\\hax0rd.txt', 'C:/Windows/hax0rd.txt', '\\tmp\\hax0rd.txt', '/tmp\\hax0rd.txt', 'subdir/hax0rd.txt', 'subdir\\hax0rd.txt', 'sub/dir\\hax0rd.txt', '../../hax0rd.txt', '..\\..\\hax0rd.txt', '../..\\hax0rd.txt'];
    const entities = ['..&#x2F;hax0rd.txt', '..&sol;hax0rd.txt'];
    const body = [...candidates, ...entities].map((name, i) => file(`file${i}`, name, 'You got pwnd.')).join('') + END;
    const expected = [...candidates.map(() => 'hax0rd.txt'), ...entities].map((name, i) => [`file${i}`, fileEntry(name, 'You got pwnd.')]);
    assert.deepEqual(await entries(body), expected);
  });

  test("test_blank_filenames and CANDIDATE_INVALID_FILE_NAMES: a filename that is blank once its directories are dropped is a File named '' (Django drops the part); one ending in a backslash before its closing quote is an unterminated quoted string, a 400", async () => {
    const blanks = ['', '/', 'ends-with-slash/', '/tmp/', '/tmp/.', '/tmp/..', 'c:\\tmp\\.', 'c:\\tmp\\..'];
    const body = blanks.map((name, i) => file(`file${i}`, name, 'You got pwnd.')).join('') + END;
    assert.deepEqual(await entries(body), blanks.map((_, i) => [`file${i}`, fileEntry('', 'You got pwnd.')]));
    for (const name of ['C:\\Windows\\', 'c:\\tmp\\']) {
      assert.deepEqual(await send(file('f', name, 'x') + END), {
        status: 400,
        text: 'malformed multipart body: 1 of its parts has no Content-Disposition naming it form-data that form() can read (RFC 7578 4.2: each part must have one)',
      }, name);
    }
  });

  test('test_filename_overflow: a filename of 10,000 characters is kept as sent (Django cuts it to 255); part headers past 16 KiB are a 400 saying so', async () => {
    const long = `${'f'.repeat(10_000)}.txt`;
    assert.deepEqual(await entries(file('long_filename', long, 'Oops.') + END), [['long_filename', fileEntry(long, 'Oops.')]]);
    assert.deepEqual(await send(file('f', 'f'.repeat(17_000), 'Oops.') + END), {
      status: 400,
      text: 'malformed multipart body: Malformed part header (each part needs header lines of "Name: value" without control characters, 16 KiB at most in all, then a blank line)',
    });
  });

  test("test_unicode_name_rfc2231 and test_unicode_file_name_rfc2231_with_double_quotes: name*= (RFC 7578 4.2 has only name) and a quoted filename*= (RFC 8187 has it bare) are 400s, where Django reads them; each says why", async () => {
    assert.deepEqual(await send(part("Content-Disposition: form-data; name*=UTF-8''file_unicode; filename*=UTF-8''a.jpg", 'x') + END), {
      status: 400,
      text: 'malformed multipart body: part 1 has no name in its Content-Disposition (name*= is not read: RFC 7578 4.2 names a part by name="..." alone)',
    });
    assert.deepEqual(await send(part(`Content-Disposition: form-data; name="f"; filename*="UTF-8''%E4%B8%AD.jpg"`, 'x') + END), {
      status: 400,
      text: `malformed multipart body: part 1 has a quoted filename*=, which form() does not read: send it unquoted (RFC 8187): "\\"UTF-8''%E4%B8%AD.jpg\\""`,
    });
  });

  test("test_content_type_extra: a file's type keeps its Content-Type's parameters, as fetch's formData() types it and Django gives them as content_type_extra (busboy dropped them, a CSV's charset among them); a file without a Content-Type is text/plain", async () => {
    const body = file('simple_file', 'a.txt', 'something', 'text/plain; test-key=test_value')
      + file('csv', 'b.csv', 'x', 'text/csv; charset=windows-1252') + part('Content-Disposition: form-data; name="no_content_type"; filename="c.bin"', 'something')
      + part('Content-Disposition: form-data; name="folded"; filename="e.csv"\r\nContent-Type: text/csv;\r\n charset=utf-8', 'x')
      + file('empty', '', '', 'text/csv; charset=windows-1252') + part('Content-Disposition: form-data; name="encoded"; filename="d.csv"\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Transfer-Encoding: base64', 'eA==') + END;
    assert.deepEqual(await entries(body), [
      ['simple_file', fileEntry('a.txt', 'something', 'text/plain; test-key=test_value')], ['csv', fileEntry('b.csv', 'x', 'text/csv; charset=windows-1252')],
      ['no_content_type', fileEntry('c.bin', 'something', 'text/plain')], ['folded', fileEntry('e.csv', 'x', 'text/csv; charset=utf-8')], ['empty', fileEntry('', '', 'text/csv; charset=windows-1252')], ['encoded', fileEntry('d.csv', 'x', 'text/csv; charset=utf-8')],
    ]);
  });

  test('test_truncated_multipart_handled_gracefully: a body cut inside its close delimiter is a 400 (Django reads the parts it can, and drops the file cut short)', async () => {
    const whole = file('file', 'foo.txt', 'file contents').slice(0, -2) + '--B--\r\n';
    assert.deepEqual(await send(whole.slice(0, -10)), { status: 400, text: 'malformed multipart body: Unexpected end of form' });
  });

  test('test_no_parsing_triggered_by_fd_closing: a view that never calls form() gets no answer from the parser, a malformed body included', async () => {
    const response = await client.post('/ignored', { body: '--B\r\nnot a part', headers: { 'content-type': MULTIPART } });
    assert.deepEqual([response.status, await response.text()], [200, 'not read']);
  });
});

describe('Starlette test_formparsers, over the test client', () => {
  test('test_multipart_request_with_encoded_value and test_user_safe_decode_helper: a value in UTF-8, with charset=utf-8 on the form or its part, is read as UTF-8', async () => {
    assert.deepEqual(await entries(field('value', 'Transférer') + END, { type: 'multipart/form-data; charset=utf-8; boundary=B' }), [['value', 'Transférer']]);
    assert.deepEqual(await entries(part('Content-Disposition: form-data; name="v"\r\nContent-Type: text/plain; charset=utf-8', 'ężć') + END), [['v', 'ężć']]);
  });

  test("test_user_safe_decode_*: a field whose bytes are not valid in its charset is a 400 naming it, as text() and a urlencoded form() refuse such bytes (Django reads U+FFFD for them, Starlette falls back to Latin-1); a U+FFFD the client sent is kept", async () => {
    const body = Buffer.concat([Buffer.from('--B\r\nContent-Disposition: form-data; name="v"\r\n\r\nab'), Buffer.from([0xff]), Buffer.from(`c\r\n${END}`)]);
    assert.deepEqual(await send(body), { status: 400, text: 'form field "v" is not valid UTF-8, the default charset: it has bytes that are not UTF-8' });
    const named = Buffer.concat([Buffer.from('--B\r\nContent-Disposition: form-data; name="v"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'), Buffer.from([0xc3]), Buffer.from(`\r\n${END}`)]);
    assert.deepEqual(await send(named), { status: 400, text: 'form field "v" is not valid UTF-8, the charset its part names: it has bytes that are not UTF-8' });
    const base64 = part('Content-Disposition: form-data; name="v"\r\nContent-Transfer-Encoding: base64', Buffer.from([0x61, 0xff]).toString('base64')) + END;
    assert.deepEqual(await send(base64), { status: 400, text: 'form field "v" is not valid UTF-8 (its content once decoded from base64), the default charset' });
    assert.deepEqual(await entries(part('Content-Disposition: form-data; name="v"', 'a\ufffdb') + END), [['v', 'a\ufffdb']]);
  });

  test("test_user_safe_decode_ignores_wrong_charset: a part in a charset nobody knows is a 415 naming the field (Starlette falls back to UTF-8)", async () => {
    assert.deepEqual(await send(part('Content-Disposition: form-data; name="v"\r\nContent-Type: text/plain; charset=latin-8', 'abc') + END), {
      status: 415,
      text: 'form field "v" has a charset form() does not decode: a multipart field is read in UTF-8 (the default), ISO-8859-1 or UTF-16LE',
    });
  });

  test('test_too_many_fields_raise, test_too_many_files_raise, test_too_many_files_single_field_raise, test_too_many_files_and_fields_raise, test_max_*_is_customizable: past maxFields or maxFiles is a 413 naming the option; at them, read', async () => {
    const strict = createTestClient(createApp({ logger, body: { maxFields: 3, maxFiles: 2 }, routes: [post('/form', async (request) => new JsonResponse(await describeForm(request)))] }));
    const sendStrict = async (body: string) => {
      const response = await strict.post('/form', { body, headers: { 'content-type': MULTIPART } });
      return { status: response.status, text: await response.text() };
    };
    const fields = { status: 413, text: 'form has more than 3 fields; raise createApp({ body: { maxFields } }) to allow more' };
    const files = { status: 413, text: 'form has more than 2 files; raise createApp({ body: { maxFiles } }) to allow more' };
    assert.deepEqual(await sendStrict([1, 2, 3, 4].map((i) => field(`f${i}`, '')).join('') + END), fields);
    assert.deepEqual(await sendStrict([1, 2, 3].map((i) => file(`f${i}`, 'a.txt', '')).join('') + END), files);
    assert.deepEqual(await sendStrict([1, 2, 3].map(() => file('f', 'a.txt', '')).join('') + END), files);
    assert.deepEqual(await sendStrict(field('a', '') + field('b', '') + file('f', 'a.txt', '') + file('g', 'a.txt', '') + END), fields);
    assert.equal((await sendStrict(field('a', '') + file('f', 'a.txt', '') + file('g', 'a.txt', '') + END)).status, 200);
    const loose = createTestClient(createApp({ logger, body: { maxFields: 2_000 }, routes: [post('/form', async (request) => new JsonResponse((await describeForm(request)).length))] }));
    const many = await loose.post('/form', { body: Array.from({ length: 2_000 }, (_, i) => field(`f${i}`, '')).join('') + END, headers: { 'content-type': MULTIPART } });
    assert.deepEqual([many.status, await many.text()], [200, '2000']);
  });

  test("test_max_part_size_exceeds_limit: a field of 1 MiB + 1 byte is past the default bodyLimit, a 413 naming it (Coda's one bound is the body's); under a route's larger bodyLimit it is read whole", async () => {
    const body = field('small', 'small content') + field('large', 'x'.repeat(1024 * 1024 + 1)) + END;
    const refused = await send(body);
    assert.equal(refused.status, 413);
    assert.match(refused.text, /^request body too large: .*the limit is 1048576 bytes$/);
    assert.deepEqual(await entries(body, { path: '/big' }), [['small', 'small content'], ['large', 'x'.repeat(1024 * 1024 + 1)]]);
  });
});

describe('@fastify/multipart, over the test client', () => {
  test("multipart-security 'should not allow __proto__ as file name / field name', toString, hasOwnProperty, propertyIsEnumerable: form(schema) gives them as own keys of an object without a prototype, nothing polluted", async () => {
    const body = field('__proto__', '{"polluted":true}') + file('__proto__', '__proto__', 'x') + field('toString', 'x') + field('hasOwnProperty', 'x') + field('propertyIsEnumerable', 'x') + END;
    assert.deepEqual(await entries(body, { path: '/schema' }), { keys: ['__proto__', 'toString', 'hasOwnProperty', 'propertyIsEnumerable'], prototype: null, polluted: false });
  });
});

describe('hostile bytes, over the test client', () => {
  test('boundaries: 71 and 200 characters (RFC 2046 5.1.1 says 70; Django reads up to 201, and so does Coda), and the odd characters RFC 2046 allows, quoted, are read', async () => {
    for (const boundary of ['b'.repeat(71), 'b'.repeat(200), "'()+_,-./:=? x"]) {
      const body = `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${boundary}--\r\n`;
      assert.deepEqual(await entries(body, { type: `multipart/form-data; boundary="${boundary}"` }), [['a', 'x']], boundary);
    }
  });

  test('zero-length parts: an empty field is the text \'\', an empty file a File of 0 bytes, a close delimiter alone an empty form', async () => {
    assert.deepEqual(await entries(field('a', '') + file('f', 'a.txt', '') + END), [['a', ''], ['f', fileEntry('a.txt', '')]]);
    assert.deepEqual(await entries(END), []);
  });
});

describe('part heads that peers read otherwise, over the test client', () => {
  test("a part that gives its Content-Disposition or Content-Type twice, or a name, filename or filename* twice, is a 400 naming it: busboy read the first, Django and Starlette the last, so a proxy and the app could read other names", async () => {
    const cases: [string, string][] = [
      ['Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"', 'part 2 has 2 Content-Disposition header lines; it must have one'],
      ['Content-Disposition: form-data; name="a"; filename="x.txt"\r\nContent-Type: text/plain\r\ncontent-type: application/x-msdownload', 'part 2 has 2 Content-Type header lines; it must have one'],
      ['Content-Disposition: form-data; name="a"; name="b"', 'part 2 has 2 name parameters in its Content-Disposition; it must have one'],
      ['Content-Disposition: form-data; name="a"; filename="x.txt"; filename="y.exe"', 'part 2 has 2 filename parameters in its Content-Disposition; it must have one'],
      ["Content-Disposition: form-data; name=\"a\"; filename*=UTF-8''x.txt; FILENAME*=UTF-8''y.exe", 'part 2 has 2 filename* parameters in its Content-Disposition; it must have one'],
      ['Content-Disposition: form-data; name="a";\r\n name="b"', 'part 2 has 2 name parameters in its Content-Disposition; it must have one'],
    ];
    for (const [headers, problem] of cases) {
      assert.deepEqual(await send(field('first', 'x') + part(headers, 'x') + END), { status: 400, text: `malformed multipart body: ${problem}` }, headers);
    }
    // filename and filename* together are RFC 6266 4.3's fallback, not a repetition: filename* is read.
    assert.deepEqual(await entries(part(`Content-Disposition: form-data; name="f"; filename="euro.txt"; filename*=UTF-8''%E2%82%AC.txt`, 'x') + END), [['f', fileEntry('€.txt', 'x', 'text/plain')]]);
  });

  test("a part with 2,000 header lines or more is a 400 naming the limit: busboy dropped the lines past 1,999 without a word, its charset or Content-Disposition among them", async () => {
    const filler = (count: number) => Array.from({ length: count }, () => 'x:1').join('\r\n');
    for (const headers of [`${filler(1_999)}\r\nContent-Disposition: form-data; name="a"`, `Content-Disposition: form-data; name="a"\r\n${filler(1_998)}\r\nContent-Type: text/plain; charset=utf-16le`]) {
      assert.deepEqual(await send(part(headers, 'h\0') + END), {
        status: 400,
        text: 'malformed multipart body: part 1 has 2000 header lines; a part may have 1999 at most',
      });
    }
    // 1,999 lines, the charset the last: 68 00 read as UTF-16LE.
    assert.deepEqual(await entries(part(`Content-Disposition: form-data; name="a"\r\n${filler(1_997)}\r\nContent-Type: text/plain; charset=utf-16le`, 'h\0') + END), [['a', 'h']]);
  });
});

describe('Content-Transfer-Encoding, over the test client', () => {
  const encoded = (name: string, coding: string, content: string, more = '') => part(`Content-Disposition: form-data; name="${name}"${more}\r\nContent-Transfer-Encoding: ${coding}`, content);

  test("Django's test_base64_upload, test_big_base64_upload and test_big_base64_newlines_upload: a base64 part is decoded, as Django and fetch's formData() decode it (busboy gave the encoded text as the content)", async () => {
    const small = 'This data will be transmitted base64-encoded.';
    const big = 'Big data'.repeat(68_000);
    // base64.encodebytes: lines of 76 characters, each ending in a line break.
    const lines = Buffer.from(big).toString('base64').replace(/.{76}/g, '$&\n');
    const body = encoded('file', 'base64', Buffer.from(small).toString('base64'), '; filename="test.txt"\r\nContent-Type: application/octet-stream')
      + encoded('big', 'base64', Buffer.from(big).toString('base64'), '; filename="big.txt"\r\nContent-Type: application/octet-stream')
      + encoded('lines', 'BASE64', lines, '; filename="lines.txt"\r\nContent-Type: application/octet-stream')
      + encoded('field', 'base64', Buffer.from('café').toString('base64'))
      + encoded('latin', 'base64', Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64'), '\r\nContent-Type: text/plain; charset=iso-8859-1')
      + encoded('empty', 'base64', Buffer.from('x').toString('base64'), '; filename=""\r\nContent-Type: application/octet-stream') + END;
    assert.deepEqual(await entries(body, { path: '/big' }), [
      ['file', fileEntry('test.txt', small)], ['big', fileEntry('big.txt', big)], ['lines', fileEntry('lines.txt', big)],
      ['field', 'café'], ['latin', 'café'], ['empty', fileEntry('', 'x')],
    ]);
  });

  test("Django's test_base64_invalid_upload: a base64 part whose content is not base64 is a 400 naming the part (Django and fetch's formData() read '!' as no bytes)", async () => {
    assert.deepEqual(await send(field('a', 'x') + encoded('file', 'base64', '!', '; filename="test.txt"') + END), {
      status: 400,
      text: 'malformed multipart body: part 2 has Content-Transfer-Encoding base64, but its content is not base64',
    });
    // One character past a group of four encodes no whole byte (Node decoded 'YWJjY' as 'abc'); misplaced padding is none.
    for (const text of ['YWJjY', 'YWJjZA=', 'YQ===']) {
      assert.equal((await send(encoded('file', 'base64', text, '; filename="test.txt"') + END)).status, 400, text);
    }
    // Padding is optional, as atob() reads base64: 'YWJjZA' is 'abcd'.
    assert.deepEqual(await entries(encoded('a', 'base64', 'YWJjZA') + END), [['a', 'abcd']]);
  });

  test("a part in another transfer coding than base64, 7bit, 8bit or binary (quoted-printable, x-anything) is a 415 naming it, where Django, busboy and fetch's formData() gave the encoded text as the content; 7bit, 8bit and binary are read as sent", async () => {
    for (const coding of ['quoted-printable', 'x-gzip']) {
      assert.deepEqual(await send(encoded('a', coding, 'h=C3=A9') + END), {
        status: 415,
        text: `part 1 has Content-Transfer-Encoding "${coding}", which form() does not decode (it decodes base64; RFC 7578 4.7 has senders use none): send the content as it is`,
      }, coding);
    }
    assert.deepEqual(await entries(encoded('a', '7bit', 'x') + encoded('b', '8bit', 'é') + encoded('c', 'Binary', 'y', '; filename="c.bin"') + END), [['a', 'x'], ['b', 'é'], ['c', fileEntry('c.bin', 'y', 'text/plain')]]);
  });
});

describe('bytes on the wire, over a real socket', () => {
  /** The head of a multipart POST to `path`, chunked unless `length` is given. */
  const head = (path: string, length?: number): string =>
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${MULTIPART}\r\n${length === undefined ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`}\r\n\r\n`;

  test("@fastify/multipart 'should finish with error on partial upload': a client gone mid-file leaves form() rejecting with ClientDisconnected, nothing logged as a server error, the server serving on", async (t) => {
    const entered = deferred();
    const outcome = deferred<unknown>();
    const { server, url } = await served(t, {
      logger,
      routes: [
        post('/upload', async (request) => {
          entered.resolve();
          outcome.resolve(await request.form().catch((error: unknown) => error));
          return new HttpResponse('unreachable');
        }),
        get('/ok', () => new HttpResponse('ok')),
      ],
    });
    const body = file('upload', 'big.bin', 'x'.repeat(100_000)) + END;
    const socket = await connect(server);
    socket.write(head('/upload', body.length) + body.slice(0, 50_000));
    await entered.promise;
    socket.destroy();
    const error = await outcome.promise;
    assert.ok(error instanceof ClientDisconnected, `expected ClientDisconnected, got ${String(error)}`);
    assert.equal(await (await fetch(`${url}/ok`)).text(), 'ok');
    assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), []);
  });

  test("a boundary with a character outside printable ASCII is a 400 naming it, as Django refuses it, over the wire and in process alike (busboy's 400 over the wire said 'Malformed content type'; in process, quoted, it was read: a 200)", async (t) => {
    const { server } = await served(t, { logger, routes: [post('/form', async (request) => new JsonResponse(await describeForm(request)))] });
    const refused = (boundary: string) => ({ status: 400, text: `malformed multipart body: its boundary "${boundary}" has a character other than printable ASCII, which RFC 2046 5.1.1 allows alone` });
    const body = Buffer.from('--\u00e9\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--\u00e9--\r\n');
    // The boundary's bytes as UTF-8 on the wire, C3 A9: Node gives the header as the two characters Ã©.
    const head = Buffer.from(`POST /form HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary=\u00c3\u00a9\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1');
    const response = await rawRequest(server, Buffer.concat([head, body]));
    assert.deepEqual({ status: response.status, text: response.body.toString() }, refused('\u00c3\u00a9'));
    assert.deepEqual(await send(body, { type: 'multipart/form-data; boundary="\u00e9"' }), refused('\u00e9'));
  });

  test("a slow upload, one byte per chunk (Transfer-Encoding: chunked), each written once the last was taken: its boundaries split across reads, the form is read as sent", async (t) => {
    const { server } = await served(t, { logger, routes: [post('/form', async (request) => new JsonResponse(await describeForm(request)))] });
    const body = field('a', 'x') + file('f', 'a.txt', 'x--B, no boundary\r\n-', 'text/plain') + END;
    const socket = await connect(server);
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const write = (data: string) => new Promise<void>((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
    await write(head('/form').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    for (const byte of body) await write(`1\r\n${byte}\r\n`);
    await write('0\r\n\r\n');
    await closed;
    const response = parseResponse(Buffer.concat(chunks));
    assert.equal(response.status, 200, response.body.toString());
    assert.deepEqual(JSON.parse(response.body.toString()), [['a', 'x'], ['f', fileEntry('a.txt', 'x--B, no boundary\r\n-', 'text/plain')]]);
  });

  test("@fastify/multipart 'should use default for fileSize' and Starlette's chunked test_max_part_size_exceeds_limit: a file past bodyLimit sent chunked (no Content-Length) is a 413 naming the limit, the connection closed", async (t) => {
    const { server } = await served(t, { logger, routes: [post('/form', async (request) => new JsonResponse(await describeForm(request)))] });
    const content = file('f', 'big.bin', 'x'.repeat(1024 * 1024)) + END;
    // In 64 KiB chunks, as a client streaming a file sends it.
    const chunks: string[] = [];
    for (let at = 0; at < content.length; at += 65_536) {
      const chunk = content.slice(at, at + 65_536);
      chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    }
    const response = await rawRequest(server, head('/form') + chunks.join('') + '0\r\n\r\n');
    assert.equal(response.status, 413);
    assert.equal(response.body.toString(), 'request body too large: more than 1048576 bytes, the limit is 1048576 bytes');
    assert.equal(response.headers.connection, 'close');
  });

  test("Django's test_truncated_multipart_handled_gracefully on the wire: a body whose Content-Length stops mid-part, then the connection half-closed, is no 200 and no server error", async (t) => {
    const outcome = deferred<unknown>();
    const { server } = await served(t, {
      logger,
      routes: [post('/form', async (request) => {
        const read = await request.form().then(() => 'read', (error: unknown) => error);
        outcome.resolve(read);
        return new HttpResponse(String(read));
      })],
    });
    const body = file('file', 'foo.txt', 'file contents') + END;
    const socket = await connect(server);
    socket.end(head('/form', body.length) + body.slice(0, 60));
    const error = await outcome.promise;
    assert.ok(error instanceof ClientDisconnected, `expected ClientDisconnected, got ${String(error)}`);
    socket.destroy();
    assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), []);
  });
});
