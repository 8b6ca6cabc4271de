// Multipart bodies under hostile input: base64 parts as encoders write them,
// many tiny parts, boundaries at RFC 2046's length and past it, filename*=
// in charsets form() cannot read as sent, a body cut mid-part. Each is read
// as sent or refused with a 400 or 413 that names the problem.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, JsonResponse, post } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const app = createApp({
  routes: [post('/form', async (request) => {
    const entries: unknown[] = [];
    for (const [name, value] of await request.form()) entries.push([name, typeof value === 'string' ? value : { filename: value.name, text: await value.text() }]);
    return new JsonResponse(entries);
  })],
});
const client = createTestClient(app);

async function send(body: string, boundary = 'B'): Promise<{ status: number; text: string }> {
  const response = await client.post('/form', { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  return { status: response.status, text: await response.text() };
}

const head = (disposition: string, more = ''): string => `--B\r\nContent-Disposition: form-data; ${disposition}\r\n${more}\r\n`;
const payload = 'é and more text, '.repeat(20);
// RFC 2045 6.8: lines of 76 characters at most, each ended by CRLF.
const base64Lines = Buffer.from(payload).toString('base64').match(/.{1,76}/g)!.join('\r\n');

describe('base64 parts as encoders write them', () => {
  test('a file and a field broken into lines of 76 with CRLF, as RFC 2045 has it: decoded whole', async () => {
    const body = `${head('name="f"; filename="a.txt"', 'Content-Transfer-Encoding: base64\r\n')}${base64Lines}\r\n${head('name="g"', 'Content-Transfer-Encoding: base64\r\n')}${base64Lines}\r\n--B--\r\n`;
    assert.deepEqual(await send(body), { status: 200, text: JSON.stringify([['f', { filename: 'a.txt', text: payload }], ['g', payload]]) });
  });

  test('a padding character inside the content is a 400 naming the part', async () => {
    const body = `${head('name="f"', 'Content-Transfer-Encoding: base64\r\n')}aGk=aGk=\r\n--B--\r\n`;
    assert.deepEqual(await send(body), { status: 400, text: 'malformed multipart body: part 1 has Content-Transfer-Encoding base64, but its content is not base64' });
  });
});

describe('many parts, long boundaries, a cut body', () => {
  test('2,000 tiny fields are the 413 of maxFields, not 2,000 entries', async () => {
    const body = `${Array.from({ length: 2000 }, (_, i) => `${head(`name="f${i}"`)}v\r\n`).join('')}--B--\r\n`;
    const answer = await send(body);
    assert.equal(answer.status, 413);
    assert.match(answer.text, /more than 1000 fields; raise createApp\(\{ body: \{ maxFields \} \}\)/);
  });

  for (const length of [70, 71]) {
    test(`a boundary of ${length} characters is read`, async () => {
      const boundary = 'b'.repeat(length);
      const answer = await send(`--${boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n--${boundary}--\r\n`, boundary);
      assert.deepEqual(answer, { status: 200, text: JSON.stringify([['f', 'v']]) });
    });
  }

  for (const [where, body] of [['in a field', `${head('name="f"')}val`], ['in a head', '--B\r\nContent-Disposition: form-da'], ['after a delimiter', `${head('name="f"')}v\r\n--B`]]) {
    test(`a body that ends ${where} is a 400`, async () => {
      assert.deepEqual(await send(body!), { status: 400, text: 'malformed multipart body: Unexpected end of form' });
    });
  }
});

describe('filename*= in a charset form() cannot read as sent', () => {
  const file = (disposition: string): string => `${head(`name="f"; ${disposition}`)}v\r\n--B--\r\n`;

  test('UTF-8 and ISO-8859-1 are read', async () => {
    assert.deepEqual(await send(file(`filename*=UTF-8''caf%C3%A9.txt`)), { status: 200, text: JSON.stringify([['f', { filename: 'café.txt', text: 'v' }]]) });
    assert.deepEqual(await send(file(`filename*=iso-8859-1''caf%E9.txt`)), { status: 200, text: JSON.stringify([['f', { filename: 'café.txt', text: 'v' }]]) });
  });

  // busboy skipped the part without a word (the 400 said it had no Content-Disposition), or encoded the name in base64, or read %80 as U+0080.
  const refused: [string, string][] = [
    [`filename*=koi8-r''%F0%D2`, 'part 1 has a filename*= in charset "koi8-r", which form() does not read: send UTF-8 (RFC 8187)'],
    [`filename*=base64''abc`, 'part 1 has a filename*= in charset "base64", which form() does not read: send UTF-8 (RFC 8187)'],
    [`filename*=windows-1252''%80.txt`, 'part 1 has a filename*= in charset "windows-1252", which form() does not read: send UTF-8 (RFC 8187)'],
    [`filename*=utf-8''%ZZ`, `part 1 has a filename*= that is not RFC 8187's charset'language'value-chars: "utf-8''%ZZ"`],
    [`filename*=abc`, `part 1 has a filename*= that is not RFC 8187's charset'language'value-chars: "abc"`],
    // busboy reads an ext-value unquoted only, and one with no name in it not at all.
    [`filename*="UTF-8''abc"`, `part 1 has a quoted filename*=, which form() does not read: send it unquoted (RFC 8187): "\\"UTF-8''abc\\""`],
    [`filename*=UTF-8''`, `part 1 has a filename*= with no name after its charset and language: "UTF-8''"`],
    // busboy read it as ISO-8859-1: a name with é in it, from bytes the sender said were ASCII.
    [`filename*=us-ascii''caf%E9.txt`, 'part 1 has a filename*= in charset "us-ascii" with a byte that is not ASCII: send UTF-8 (RFC 8187)'],
  ];
  for (const [disposition, message] of refused) {
    test(`${disposition}: a 400 naming it`, async () => {
      assert.deepEqual(await send(file(disposition)), { status: 400, text: `malformed multipart body: ${message}` });
    });
  }

  test('filename*=" inside another parameter\'s quoted value is no quoted filename*=: read as sent', async () => {
    const body = `--B\r\nContent-Disposition: form-data; name="a;filename*="; filename*=UTF-8''ok.txt\r\n\r\nv\r\n--B--\r\n`;
    assert.deepEqual(await send(body), { status: 200, text: JSON.stringify([['a;filename*=', { filename: 'ok.txt', text: 'v' }]]) });
  });

  test('ASCII of ASCII\'s bytes is read', async () => {
    assert.deepEqual(await send(file(`filename*=US-ASCII''a%20b.txt`)), { status: 200, text: JSON.stringify([['f', { filename: 'a b.txt', text: 'v' }]]) });
  });

  test('windows-1252 without a byte it reads otherwise than ISO-8859-1 is read', async () => {
    assert.deepEqual(await send(file(`filename*=windows-1252''caf%E9.txt`)), { status: 200, text: JSON.stringify([['f', { filename: 'café.txt', text: 'v' }]]) });
  });
});
