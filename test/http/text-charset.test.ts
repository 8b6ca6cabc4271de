// A text body goes out as UTF-8. Under a Content-Type that names another
// charset a client reads other characters than those sent (`Café` as `CafÃ©`):
// Django encodes the text in the charset named, Express rewrites the charset
// to utf-8; Coda refuses it where the response is made (a TypeError) and, since
// headers and body can change later, where it is sent (a 500 naming it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compress, createApp, get, HttpResponse, JsonResponse, type Middleware } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';

const LATIN1 = 'text/plain; charset=iso-8859-1';

test('a response whose text beyond ASCII its Content-Type says is in another charset is a TypeError where it is made, naming the charset', () => {
  for (const make of [
    () => new HttpResponse('Café', { headers: { 'content-type': LATIN1 } }),
    () => new JsonResponse({ name: 'José' }, { headers: { 'content-type': 'application/json; charset=windows-1252' } }),
    () => new HttpResponse('Café', { headers: { 'content-type': 'text/plain; charset=x-unknown' } }),
  ]) {
    assert.throws(make, { name: 'TypeError', message: /^(Http|Json)Response: its body is text beyond ASCII, sent as UTF-8, but its Content-Type names charset=(iso-8859-1|windows-1252|x-unknown): a client would read other characters; give the body as bytes in that charset, or name charset=utf-8$/ });
  }
  // What reads as sent: ASCII text (alike in those charsets), bytes the app encoded, UTF-8 by any of its names.
  new HttpResponse('Cafe', { headers: { 'content-type': LATIN1 } });
  new HttpResponse(Buffer.from('Café', 'latin1'), { headers: { 'content-type': LATIN1 } });
  for (const label of ['utf-8', 'UTF8', '"utf-8"', 'unicode-1-1-utf-8']) new HttpResponse('Café', { headers: { 'content-type': `text/plain; charset=${label}` } });
});

function appChangingType(logger: ReturnType<typeof memoryLogger>['logger'], middleware: Middleware[] = []) {
  return createApp({
    logger,
    middleware: [...middleware, {
      processResponse(request, response) {
        if (request.path !== '/ok') response.headers.set('content-type', LATIN1);
        return response;
      },
    }],
    routes: [
      get('/changed', () => new HttpResponse('Café '.repeat(400))),
      get('/ok', () => new HttpResponse('Café')),
      get('/empty', () => new HttpResponse('Café', { status: 204 })),
    ],
  });
}

const REFUSED = /^cannot send the response: its body is text beyond ASCII, sent as UTF-8, but its Content-Type names charset=iso-8859-1/;

test('a Content-Type changed later (by a middleware) is a 500 naming it, over a socket, in process, through app.fetch and compress()', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await startServer(appChangingType(logger));
  t.after(() => server.close());
  assert.equal((await rawRequest(server, rawGet('/changed'))).status, 500);
  assert.equal((await rawRequest(server, rawGet('/ok'))).body.toString(), 'Café');
  const inProcess = createTestClient(appChangingType(logger));
  t.after(() => inProcess.close());
  assert.equal((await inProcess.get('/changed')).status, 500);
  const fetched = await appChangingType(logger).fetch(new Request('http://localhost/changed'));
  assert.equal(fetched.status, 500);
  await fetched.text();
  // compress() runs inside the middleware that changed the type: it would send the text compressed as bytes.
  const compressing = createTestClient(appChangingType(logger, [compress()]));
  t.after(() => compressing.close());
  assert.equal((await compressing.get('/changed', { headers: { 'accept-encoding': 'gzip' } })).status, 500);
  const refusals = lines.filter((line) => line.level === LEVEL.error && REFUSED.test(String(line.msg)));
  assert.equal(refusals.length, 4, lines.map((line) => line.msg).join(' | '));
});

test('a 204 sends no body: its text is not refused whatever charset its Content-Type names (socket, in process, app.fetch)', async (t) => {
  const { logger } = memoryLogger();
  const server = await startServer(appChangingType(logger));
  t.after(() => server.close());
  assert.equal((await rawRequest(server, rawGet('/empty'))).status, 204);
  const inProcess = createTestClient(appChangingType(logger));
  t.after(() => inProcess.close());
  assert.equal((await inProcess.get('/empty')).status, 204);
  assert.equal((await appChangingType(logger).fetch(new Request('http://localhost/empty'))).status, 204);
});
