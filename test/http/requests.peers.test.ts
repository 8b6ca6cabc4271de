// Django's tests of the request as the handler builds it (tests/requests_tests,
// tests/handlers), ported onto Coda's public API over a real socket: raw bytes
// where a client's mistakes are the point. Where Coda answers otherwise on
// purpose, the test says so, and docs/web.md or docs/lifecycle.md why.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { get, HttpResponse, JsonResponse, post, type Server } from 'coda-http';
import { memoryLogger, rawRequest, served, LEVEL } from '../helpers.js';

const REFUSED = 'the request body was read from request.raw before text(), json(), form() or bytes(), which cannot read it again: read it one way only';

test("requests_tests 'test_value_after_read' (RawPostDataException): a body begun through request.raw is refused by text() and form(), naming why; they gave what was left", async (t) => {
  const { url } = await served(t, {
    routes: [post('/form', async (request) => {
      // The first chunk only, as Django's request.read(2) takes a part; the socket is kept for the answer.
      for await (const chunk of request.raw!.iterator({ destroyOnReturn: false })) if (chunk !== undefined) break;
      const reasons = await Promise.all([request.text(), request.form()].map((read) => read.then(() => 'read', (error: Error) => `${error.name}: ${error.message}`)));
      return new JsonResponse(reasons);
    })],
  });
  const response = await fetch(`${url}/form`, { method: 'POST', body: new URLSearchParams({ name: 'value' }) });
  assert.deepEqual(await response.json(), [`ProgrammingError: ${REFUSED}`, `ProgrammingError: ${REFUSED}`]);
});

test('RawPostDataException uncaught: a body read whole through request.raw, then text(), is a 500 logged naming the mistake, not the empty text it was', async (t) => {
  const { logger, logged } = memoryLogger();
  const { url } = await served(t, {
    logger,
    routes: [post('/echo', async (request) => {
      for await (const chunk of request.raw!) void chunk;
      return new HttpResponse(await request.text());
    })],
  });
  const response = await fetch(`${url}/echo`, { method: 'POST', body: 'hello' });
  assert.equal(response.status, 500);
  const line = await logged((entry) => entry.level === LEVEL.error);
  assert.equal((line.err as { message?: string }).message, REFUSED);
});

/** Sends `GET {target}` with the extra head lines, raw bytes as given: its status and body. */
async function rawGetBytes(server: Server, target: Buffer, ...lines: Buffer[]): Promise<[number, string]> {
  const head = [Buffer.from('GET '), target, Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n')];
  for (const line of lines) head.push(line, Buffer.from('\r\n'));
  const response = await rawRequest(server, Buffer.concat([...head, Buffer.from('\r\n')]));
  return [response.status, response.body.toString()];
}

test("handlers 'test_non_ascii_query_string': UTF-8 escapes read as UTF-8, Latin-1 ones as U+FFFD, as Django on Python 3; raw bytes are Node's 400 (Django takes them)", async (t) => {
  const { server } = await served(t, { routes: [get('/q', (request) => new JsonResponse(request.query.get('want')))] });
  assert.deepEqual(await rawGetBytes(server, Buffer.from('/q?want=caf%C3%A9')), [200, '"café"']);
  assert.deepEqual(await rawGetBytes(server, Buffer.from('/q?want=caf%E9')), [200, '"caf\ufffd"']);
  for (const raw of [[0xc3, 0xa9], [0xe9]]) {
    const [status] = await rawGetBytes(server, Buffer.concat([Buffer.from('/q?want=caf'), Buffer.from(raw)]));
    assert.equal(status, 400, `raw bytes ${raw.join(' ')}`);
  }
});

test("handlers 'test_invalid_urls': a path whose escapes are not UTF-8 is a 400 naming it, where Django re-quotes the bytes, routes, and answers 404", async (t) => {
  const { server } = await served(t, { routes: [get('/p/:x', (request) => new JsonResponse(request.params))] });
  for (const [target, named] of [['/p/~%A9helloworld', '/p/~%A9helloworld'], ['/p/%E2%99%E2%99%A5', '/p/%E2%99%E2%99%A5'], ['/p/d%aao%aaw', '/p/d%AAo%AAw']]) {
    assert.deepEqual(await rawGetBytes(server, Buffer.from(target!)), [400, `invalid percent-encoding in path "${named}"`]);
  }
  assert.deepEqual(await rawGetBytes(server, Buffer.from('/p/%E2%98%8E')), [200, '{"x":"\u260e"}']);
});

test("handlers 'test_non_ascii_cookie', 'test_invalid_unicode_cookie': UTF-8 bytes read as UTF-8, the quotes kept (Django unquotes); a control character is Node's 400 (Django drops the cookie)", async (t) => {
  const { server } = await served(t, { routes: [get('/c', (request) => new JsonResponse([request.cookies.get('want') ?? null, request.cookies.get('y') ?? null]))] });
  assert.deepEqual(await rawGetBytes(server, Buffer.from('/c'), Buffer.from('Cookie: want="café"; y=1')), [200, '["\\"café\\"","1"]']);
  const [status] = await rawGetBytes(server, Buffer.from('/c'), Buffer.concat([Buffer.from('Cookie: x=W\x03c(h]'), Buffer.from([0x8e]), Buffer.from('; y=1')]));
  assert.equal(status, 400);
});

test("requests_tests 'test_POST_multipart_with_content_length_zero': an empty multipart body is a 400, as fetch's formData() refuses it (RFC 2046 wants a part and a close delimiter); Django reads no fields. A close delimiter alone is an empty form", async (t) => {
  const { url } = await served(t, {
    routes: [post('/form', async (request) => {
      try {
        return new JsonResponse([...await request.form()]);
      } catch (error) {
        return new JsonResponse((error as Error).message, { status: (error as { status: number }).status });
      }
    })],
  });
  const send = (body: string) => fetch(`${url}/form`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=boundary' }, body });
  const empty = await send('');
  assert.deepEqual([empty.status, await empty.json()], [400, 'malformed multipart body: Unexpected end of form']);
  const closed = await send('--boundary--\r\n');
  assert.deepEqual([closed.status, await closed.json()], [200, []]);
});
