// CORS cases ported from peers' own suites: expressjs/cors (test/test.js),
// fastify/fastify-cors (test/cors.test.js, test/preflight.test.js), Hono's
// cors middleware (src/middleware/cors/index.test.ts) and
// django-cors-headers (tests/test_middleware.py). Each test names its source.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { cors, createApp, get, HttpResponse, include, StreamingResponse, Unauthorized, type CorsOptions } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger } from '../helpers.js';

const ORIGIN = 'https://app.example';

function appWith(options: CorsOptions) {
  return createApp({
    logger: memoryLogger().logger,
    middleware: [cors(options)],
    routes: [
      get('/vary', () => new HttpResponse('ok', { headers: { vary: 'Accept-Encoding' } })),
      get('/stream', () => new StreamingResponse(Readable.from(['a', 'b']))),
      get('/own', () => new HttpResponse('ok', { headers: { 'access-control-allow-origin': ORIGIN } })),
      include('/private', [get('/notes', () => new HttpResponse('notes'))], {
        middleware: [{ processRequest() { throw new Unauthorized('log in first'); } }],
      }),
    ],
  });
}

function clientWith(options: CorsOptions) {
  const client = createTestClient(appWith(options), { transport: 'socket' });
  after(() => client.close());
  return client;
}

const preflight = (origin: string, extra: Record<string, string> = {}) => ({ headers: { origin, 'access-control-request-method': 'GET', ...extra } });

describe('cors(), as peers test it', { timeout: 10_000 }, () => {
  const listed = clientWith({ origins: [ORIGIN], credentials: true, headers: ['X-Custom-Header'] });
  const any = clientWith({ origins: '*', maxAge: 0 });

  test("expressjs/cors 'appends to an existing Vary header', Hono 'Keep original Vary header'", async () => {
    const vary = await listed.get('/vary', { headers: { origin: ORIGIN } });
    assert.equal(vary.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(vary.headers.get('vary'), 'Accept-Encoding, Origin');
    const star = await any.get('/vary', { headers: { origin: ORIGIN } });
    assert.equal(star.headers.get('access-control-allow-origin'), '*');
    assert.equal(star.headers.get('vary'), 'Accept-Encoding');
  });

  test("Hono 'Should not return duplicate header values': a view's own Allow-Origin is not doubled", async () => {
    const response = await listed.get('/own', { headers: { origin: ORIGIN } });
    assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
  });

  test("fastify-cors 'Should add cors headers when payload is a stream'", async () => {
    const response = await listed.get('/stream', { headers: { origin: ORIGIN } });
    assert.equal(await response.text(), 'ab');
    assert.equal(response.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(response.headers.get('access-control-allow-credentials'), 'true');
  });

  test("django-cors-headers 'test_auth_view_options' and 'test_non_200_headers_still_set': a preflight is answered before a group's auth; its 401 carries the headers", async () => {
    const answered = await listed.request('OPTIONS', '/private/notes', preflight(ORIGIN, { 'access-control-request-headers': 'x-custom-header' }));
    assert.equal(answered.status, 204);
    assert.equal(answered.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(answered.headers.get('access-control-allow-headers'), 'X-Custom-Header');
    const refused = await listed.get('/private/notes', { headers: { origin: ORIGIN } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(refused.headers.get('access-control-allow-credentials'), 'true');
  });

  test("fastify-cors 'Should reply to all options requests': a preflight on a path without routes is answered too", async () => {
    const response = await any.request('OPTIONS', '/nowhere', preflight(ORIGIN));
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
  });

  test("expressjs/cors 'includes maxAge when specified and equals to zero', 'does not includes maxAge unless specified'", async () => {
    assert.equal((await any.request('OPTIONS', '/vary', preflight(ORIGIN))).headers.get('access-control-max-age'), '0');
    assert.equal((await listed.request('OPTIONS', '/vary', preflight(ORIGIN))).headers.get('access-control-max-age'), null);
  });

  test("django-cors-headers 'test_get_invalid_origin', 'test_get_not_in_allowed_origins_due_to_wrong_scheme'", async () => {
    for (const origin of ['https://app.example]', 'http://app.example', 'https://app.example.']) {
      const response = await listed.get('/vary', { headers: { origin } });
      assert.equal(response.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(response.headers.get('access-control-allow-credentials'), null, origin);
    }
  });

  test("Hono 'Preflight handles a large Access-Control-Request-Headers value' (through app.fetch: no header size limit there)", async () => {
    const app = appWith({ origins: '*' });
    const asked = `x${' '.repeat(200_000)}x`;
    const response = await app.fetch(new Request('http://localhost/vary', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': asked } }));
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-headers'), null);
  });

  test("fastify-cors 'Dynamic origin resolution (errored)': an origin function that throws is a 500, not a hang", async () => {
    const client = clientWith({ origins: () => { throw new Error('origin store down'); } });
    const actual = await client.get('/vary', { headers: { origin: ORIGIN } });
    assert.equal(actual.status, 500);
    assert.equal(actual.headers.get('access-control-allow-origin'), null);
    const pre = await client.request('OPTIONS', '/vary', preflight(ORIGIN));
    assert.equal(pre.status, 500);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
  });
});
