// Multipart edge cases ported from busboy's test/test-types-multipart.js,
// Starlette's tests/test_formparsers.py and Django's
// tests/requests_tests/test_data_upload_settings.py and tests/file_uploads,
// over a real socket. Each test names its source. A malformed body is a 400
// naming the fault, too many parts a 413 naming the option; never a 500.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, post } from 'coda-http';
import { memoryLogger, rawRequest, serveForBadInput } from '../helpers.js';

/** A multipart POST to /form with `body` as it is (text as UTF-8). */
function multipart(body: string | Buffer, contentType = 'multipart/form-data; boundary=B'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = `POST /form HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: ${contentType}\r\nContent-Length: ${bytes.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

/** One part, with its header lines. */
const part = (headers: string, content: string): string => `--B\r\n${headers}\r\n\r\n${content}\r\n`;
const field = (name: string, value: string): string => part(`Content-Disposition: form-data; name="${name}"`, value);
const END = '--B--\r\n';

describe('multipart bodies, as busboy, Starlette and Django test them', () => {
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [
      post('/form', async (request) => {
        const entries: unknown[] = [];
        for (const [name, value] of await request.form()) {
          entries.push([name, typeof value === 'string' ? value : { filename: value.name, type: value.type, text: await value.text() }]);
        }
        return new JsonResponse(entries);
      }),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });
  const served = serveForBadInput(app, lines);

  async function send(body: string | Buffer, contentType?: string): Promise<{ status: number; text: string }> {
    const response = await rawRequest(served.server, multipart(body, contentType));
    return { status: response.status, text: response.body.toString('utf8') };
  }

  test("Starlette's test_missing_boundary_parameter and busboy's 'Multipart: Boundary not found': a 400 naming the fault", async () => {
    assert.deepEqual(await send(field('a', 'x') + END, 'multipart/form-data'), { status: 400, text: 'malformed multipart body: Multipart: Boundary not found' });
    assert.deepEqual(await send(field('a', 'x') + END, 'multipart/form-data; boundary='), { status: 400, text: 'malformed multipart body: Malformed content type' });
  });

  test("RFC 2046 5.1.1: a boundary parameter that is empty, or given twice, is a 400 naming it (busboy read the body by its first, and an empty one as '--': a 200, the parts read by another boundary than the one the client meant)", async () => {
    const cases: [string, string][] = [
      ['multipart/form-data; boundary=""', 'malformed multipart body: its boundary parameter is empty; a boundary is 1 to 70 characters (RFC 2046 5.1.1)'],
      ['multipart/form-data; boundary=""; boundary=B', 'malformed multipart body: its Content-Type has 2 boundary parameters; it must have one'],
      ['multipart/form-data; boundary=A; Boundary=B', 'malformed multipart body: its Content-Type has 2 boundary parameters; it must have one'],
    ];
    for (const [type, text] of cases) {
      assert.deepEqual(await send(field('a', 'x') + END, type), { status: 400, text }, type);
    }
    assert.deepEqual(await send('--\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n----\r\n', 'multipart/form-data; boundary=""'), { status: 400, text: cases[0]![1] });
  });

  test("busboy's 'Unexpected end of form' and Starlette's unterminated bodies: a body cut inside a field or a file, or with no parts at all, is a 400", async () => {
    for (const body of [field('a', 'x'), '--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nabc', 'not multipart at all', '']) {
      assert.deepEqual(await send(body), { status: 400, text: 'malformed multipart body: Unexpected end of form' }, JSON.stringify(body));
    }
  });

  test("busboy's 'Malformed part header': a part without headers, with a header past busboy's limits, or with a NUL in its filename, is a 400 saying what a part header must be (busboy's words alone named neither the rule nor the 16 KiB limit)", async () => {
    const bodies = [
      '--B\r\n\r\nxyz\r\n' + END,
      part('Content-Disposition: form-data; name="a"\r\nX-Big: ' + 'h'.repeat(90_000), 'x') + END,
      part('Content-Disposition: form-data; name="a"\r\n' + Array.from({ length: 3_000 }, (_, i) => `X-${i}: y`).join('\r\n'), 'x') + END,
      part('Content-Disposition: form-data; name="f"; filename="a\0b.txt"', 'x') + END,
    ];
    const text = 'malformed multipart body: Malformed part header (each part needs header lines of "Name: value" without control characters, 16 KiB at most in all, then a blank line)';
    for (const body of bodies) assert.deepEqual(await send(body), { status: 400, text }, body.slice(0, 80));
  });

  test("Django's sanitize_file_name and busboy's filename*: a control character percent-encoded in filename*= (NUL, CR LF, ESC) is a 400, as it is written raw; a tab is kept, as raw", async () => {
    for (const [escaped, code] of [['a%00b.txt', '0000'], ['a%0D%0Ab.txt', '000D'], ['%1B%5B31mred.txt', '001B'], ['a%7F.txt', '007F']]) {
      const body = field('a', 'x') + part(`Content-Disposition: form-data; name="f"; filename*=utf-8''${escaped}`, 'y') + END;
      assert.deepEqual(await send(body), { status: 400, text: `malformed multipart body: part 2 has a control character (U+${code}) in its filename` }, escaped);
    }
    const tab = await send(part(`Content-Disposition: form-data; name="f"; filename*=utf-8''a%09b.txt`, 'y') + END);
    assert.deepEqual(JSON.parse(tab.text), [['f', { filename: 'a\tb.txt', type: 'text/plain', text: 'y' }]]);
  });

  test("Starlette's 'name must be provided': a part with no name fails the form, naming the part", async () => {
    assert.deepEqual(await send(field('a', 'x') + part('Content-Disposition: form-data', 'y') + END), { status: 400, text: 'malformed multipart body: part 2 has no name in its Content-Disposition' });
  });

  test("RFC 7578 4.2, as Starlette holds it: a part with no Content-Disposition, another than form-data, or a filename*= in a charset busboy cannot decode, which busboy skips without a word, fails the form (the charset named)", async () => {
    const expected = (skipped: number) => ({
      status: 400,
      text: `malformed multipart body: ${skipped} of its parts ${skipped === 1 ? 'has' : 'have'} no Content-Disposition naming it form-data that form() can read (RFC 7578 4.2: each part must have one)`,
    });
    const skippedParts = [
      part('Content-Type: text/plain', 'y'),
      part('Content-Disposition: attachment; name="b"', 'y'),
    ];
    for (const skipped of skippedParts) assert.deepEqual(await send(field('a', 'x') + skipped + END), expected(1), skipped);
    assert.deepEqual(await send(skippedParts.join('') + field('a', 'x') + END), expected(2));
    // The charset is named (form-body.hostile.test.ts has more).
    const shiftJis = part(`Content-Disposition: form-data; name="f"; filename*=shift_jis''%82%a0.txt`, 'y');
    assert.deepEqual(await send(field('a', 'x') + shiftJis + END), {
      status: 400,
      text: 'malformed multipart body: part 2 has a filename*= in charset "shift_jis", which form() does not read: send UTF-8 (RFC 8187)',
    });
    // Delimiters as busboy finds them: a boundary not after a CRLF, a preamble and a delimiter in the epilogue are no parts.
    const answer = await send(`preamble\r\n${field('a', 'x--B\r\n')}${END}\r\n--B\r\nepilogue`);
    assert.deepEqual(answer, { status: 200, text: JSON.stringify([['a', 'x--B\r\n']]) });
  });

  test('a part busboy skips lends its head to none after it: the 400 names the skipped part, not a fault read from its head as the next part\'s (a charset, base64, a filename)', async () => {
    const expected = { status: 400, text: 'malformed multipart body: 1 of its parts has no Content-Disposition naming it form-data that form() can read (RFC 7578 4.2: each part must have one)' };
    const cases = [
      part('Content-Type: text/plain; charset=utf-16le', 'odd') + field('a', 'x'),
      part('Content-Disposition: attachment; name="a"', 'not base64!') + part('Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64', 'eA=='),
      part('Content-Disposition: attachment; name="a"; filename="a.txt"\r\nContent-Type: text/plain; charset=utf-16le', 'odd') + field('a', 'x'),
    ];
    for (const body of cases) assert.deepEqual(await send(body + END), expected, body);
  });

  test("fetch's formData() (undici): a part with filename=\"\" (an empty file input) is a file named '' whatever its type, as RFC 7578 4.2 has a filename make a part a file (busboy gave it as the string '' without an application/octet-stream type); a field stays a string; name=\"\" is the name '' (busboy took it for none: a 400 saying the part had no name)", async () => {
    const body = part('Content-Disposition: form-data; name="empty"; filename=""', '')
      + part('Content-Disposition: form-data; name="typed"; filename=""\r\nContent-Type: image/png', '')
      + part('Content-Disposition: form-data; name="kept"; filename=""', 'x\u00e9y')
      + part('Content-Disposition: form-data; name=""', 'no name') + part('Content-Disposition: form-data; name=""; filename="b.txt"', 'nameless file')
      + field('plain', 'v') + part('Content-Disposition: form-data; name="named"; filename="a.txt"', 'w') + END;
    const answer = await send(body);
    assert.equal(answer.status, 200, answer.text);
    const fetched: unknown[] = [];
    for (const [name, value] of await new Response(body, { headers: { 'content-type': 'multipart/form-data; boundary=B' } }).formData()) {
      fetched.push([name, typeof value === 'string' ? value : { filename: value.name, type: value.type, text: await value.text() }]);
    }
    assert.deepEqual(JSON.parse(answer.text), fetched);
    assert.deepEqual(fetched.slice(0, 5), [
      ['empty', { filename: '', type: 'text/plain', text: '' }],
      ['typed', { filename: '', type: 'image/png', text: '' }],
      ['kept', { filename: '', type: 'text/plain', text: 'x\u00e9y' }],
      ['', 'no name'],
      ['', { filename: 'b.txt', type: 'text/plain', text: 'nameless file' }],
    ]);
  });

  test("Django's file_uploads test_filename_traversal_upload and busboy's path stripping: a filename's directories are dropped, Unix and Windows", async () => {
    const body = part('Content-Disposition: form-data; name="f"; filename="../../etc/passwd"', 'x') + part('Content-Disposition: form-data; name="g"; filename="C:\\\\win\\\\a.txt"', 'y') + END;
    const answer = await send(body);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.text), [['f', { filename: 'passwd', type: 'text/plain', text: 'x' }], ['g', { filename: 'a.txt', type: 'text/plain', text: 'y' }]]);
  });

  test("Django's test_unicode_file_name_rfc2231 and busboy's filename*: an RFC 5987 filename is decoded; a part's charset decodes its field; entries keep the body's order", async () => {
    const body = part(`Content-Disposition: form-data; name="f"; filename*=UTF-8''%E2%82%AC%20rates.txt`, 'x')
      + part('Content-Disposition: form-data; name="latin"\r\nContent-Type: text/plain; charset=iso-8859-1', '\u00e9') + END;
    const answer = await send(body);
    assert.equal(answer.status, 200);
    // 'é' went out as UTF-8 (C3 A9); read as ISO-8859-1, as its part says, it is two characters.
    assert.deepEqual(JSON.parse(answer.text), [['f', { filename: '€ rates.txt', type: 'text/plain', text: 'x' }], ['latin', '\u00c3\u00a9']]);
  });

  test("busboy's part charsets: a field in one busboy does not decode (it gave undefined, which FormData made the text \"undefined\") is a 415 naming the field; UTF-16LE is read", async () => {
    for (const charset of ['windows-1251', 'Shift_JIS', 'utf-16be']) {
      const body = field('a', 'x') + part(`Content-Disposition: form-data; name="city"\r\nContent-Type: text/plain; charset=${charset}`, 'Kyiv') + END;
      assert.deepEqual(await send(body), {
        status: 415,
        text: 'form field "city" has a charset form() does not decode: a multipart field is read in UTF-8 (the default), ISO-8859-1 or UTF-16LE',
      }, charset);
    }
    // 'hi' in UTF-16LE: 68 00 69 00.
    const answer = await send(part('Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=utf-16le', 'h\0i\0') + END);
    assert.deepEqual(answer, { status: 200, text: '[["a","hi"]]' });
  });

  test("a UTF-16LE part of an odd number of bytes, or with an unpaired surrogate, is a 400 naming the field: busboy dropped the last byte ('h' for 68 00 69), fetch's formData() (undici) ignores the charset (RFC 7578 4.4 has it decode the part) and TextDecoder makes U+FFFD, which form() never gives", async () => {
    const utf16 = (content: string): string => part('Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=UTF-16LE', content) + END;
    const fetched = await new Response(utf16('h\0i'), { headers: { 'content-type': 'multipart/form-data; boundary=B' } }).formData();
    assert.equal(fetched.get('a'), 'h\0i');
    assert.equal(new TextDecoder('utf-16le').decode(Buffer.from('h\0i', 'latin1')), 'h\ufffd');
    assert.deepEqual(await send(utf16('h\0i')), {
      status: 400,
      text: 'form field "a" is not valid UTF-16LE, the charset its part names: it has an odd number of bytes (3), so its last byte is half a character',
    });
    // 'h' then a lone high surrogate, D800, little-endian: 68 00 00 D8, sent as those bytes.
    assert.deepEqual(await send(Buffer.from(utf16('h\0\0\u00d8'), 'latin1')), {
      status: 400,
      text: 'form field "a" is not valid UTF-16LE, the charset its part names: it has an unpaired surrogate',
    });
    // A form's _charset_ field names no charset busboy or undici reads by (HTML submits UTF-16 pages' forms as UTF-8): its fields are UTF-8, as fetch reads them.
    const named = field('_charset_', 'utf-16le') + field('a', 'h\0i') + END;
    assert.deepEqual(await send(named), { status: 200, text: JSON.stringify([['_charset_', 'utf-16le'], ['a', 'h\0i']]) });
    assert.equal((await new Response(named, { headers: { 'content-type': 'multipart/form-data; boundary=B' } }).formData()).get('a'), 'h\0i');
  });

  test("Django's and Starlette's UTF-8 names: a field name and a filename sent as UTF-8 (as browsers and FormData send them) are read as UTF-8", async () => {
    const body = field('név', 'café') + part('Content-Disposition: form-data; name="cv"; filename="résumé.pdf"\r\nContent-Type: application/pdf', 'hello') + END;
    const answer = await send(body);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.text), [['név', 'café'], ['cv', { filename: 'résumé.pdf', type: 'application/pdf', text: 'hello' }]]);
  });

  test("busboy's boundary-like content, preamble and epilogue, a quoted and a 70-character boundary: read as sent", async () => {
    const long = 'b'.repeat(70);
    const cases: [string, string | undefined, unknown][] = [
      [field('a', 'x--B y --B--') + END, undefined, [['a', 'x--B y --B--']]],
      ['preamble\r\n' + field('a', 'x') + END + 'epilogue', undefined, [['a', 'x']]],
      [field('a', 'x') + END, 'multipart/form-data; boundary="B"', [['a', 'x']]],
      [`--${long}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${long}--\r\n`, `multipart/form-data; boundary=${long}`, [['a', 'x']]],
      // A nested multipart/mixed part (RFC 7578 4.3 dropped it) is one field whose value is the inner body.
      [part('Content-Disposition: form-data; name="a"\r\nContent-Type: multipart/mixed; boundary=C', '--C\r\n\r\nz\r\n--C--') + END, undefined, [['a', '--C\r\n\r\nz\r\n--C--']]],
    ];
    for (const [body, type, expected] of cases) {
      const answer = await send(body, type);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(JSON.parse(answer.text), expected);
    }
  });

  test("RFC 2046 5.1.1 transport padding: blanks between a boundary and its CRLF are read past, as receivers must (busboy dropped the part after them, a 200 without it)", async () => {
    const cases: [string, unknown][] = [
      ['--B  \r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n' + END, [['a', 'x']]],
      [field('a', 'x') + '--B \t\r\nContent-Disposition: form-data; name="b"\r\n\r\ny\r\n--B--  \r\n', [['a', 'x'], ['b', 'y']]],
    ];
    for (const [body, expected] of cases) {
      const answer = await send(body);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(JSON.parse(answer.text), expected);
    }
  });

  test("a boundary followed by other text than CRLF or '--' (a file holding the boundary at a line's start, RFC 2046 5.1.1) is a 400 naming it: busboy cut the file there, or dropped the next part, and answered 200", async () => {
    const bodies = [
      part('Content-Disposition: form-data; name="f"; filename="a.txt"', 'hello\r\n--Bye, and the rest') + END,
      field('a', 'x') + '--Bx\r\nContent-Disposition: form-data; name="b"\r\n\r\ny\r\n' + END,
      field('a', 'x') + '--B-x\r\n' + END,
    ];
    for (const body of bodies) {
      assert.deepEqual(await send(body), {
        status: 400,
        text: 'malformed multipart body: its boundary "B" is followed by other text than a line break or "--" after part 1; a part may not hold the boundary at the start of a line',
      }, JSON.stringify(body));
    }
  });

  test("Django's test_data_upload_settings TooManyFields: 1,001 parts is a 413 naming maxFields", async () => {
    const body = Array.from({ length: 1_001 }, (_, i) => field(`a${i}`, 'x')).join('') + END;
    assert.deepEqual(await send(body), { status: 413, text: 'form has more than 1000 fields; raise createApp({ body: { maxFields } }) to allow more' });
  });
});
