// Django's tests of the request as the handler builds it (tests/requests_tests,
// tests/handlers), ported onto Coda's public API over a real socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpResponse, JsonResponse, post } from 'coda-http';
import { memoryLogger, served, LEVEL } from '../helpers.js';

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
