// app.fetch cases ported from Hono's own suite (src/hono.test.ts: "HEAD
// method", "Using other methods with `app.on`", "app.request()", headers and
// cookies), with Web Requests in and Web Responses out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, post } from 'coda-http';
import { memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';

describe('app.fetch, as Hono tests it', { timeout: 10_000 }, () => {
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      get('/page', () => new HttpResponse('/page', { headers: { 'x-custom': 'yes' } })),
      post('/page', () => new HttpResponse('posted')),
      get('/login', () => new HttpResponse('in').setCookie('a', '1').setCookie('b', '2')),
      get('/who', (request) => new JsonResponse({ host: request.host ?? null, protocol: request.protocol, agent: request.headers.get('user-agent'), query: request.query.get('q') })),
    ],
  });

  test("'HEAD method': the GET route's headers, no body", async () => {
    const response = await app.fetch(new Request('http://localhost/page', { method: 'HEAD' }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-custom'), 'yes');
    assert.equal(response.headers.get('content-length'), '5');
    assert.equal(await response.text(), '');
  });

  test("'app.request()': the URL's host and scheme, the headers and query as given", async () => {
    const response = await app.fetch(new Request('https://api.example/who?q=a%20b', { headers: { 'user-agent': 'hono-test' } }));
    assert.deepEqual(await response.json(), { host: 'api.example', protocol: 'https', agent: 'hono-test', query: 'a b' });
  });

  test('two cookies are two Set-Cookie headers of the Web Response, not one joined', async () => {
    const response = await app.fetch(new Request('http://localhost/login'));
    await response.text();
    assert.deepEqual(response.headers.getSetCookie(), ['a=1; Path=/; HttpOnly; SameSite=Lax', 'b=2; Path=/; HttpOnly; SameSite=Lax']);
  });

  test('a cookie set over an https URL is Secure, as over TLS', async () => {
    const response = await app.fetch(new Request('https://localhost/login'));
    await response.text();
    assert.ok(response.headers.getSetCookie().every((cookie) => cookie.includes('; Secure')), String(response.headers.getSetCookie()));
  });

  test("'Using other methods': a method no route answers (PURGE, QUERY) is a 405 with Allow, through app.fetch and over a socket", async () => {
    for (const method of ['PURGE', 'QUERY']) {
      const response = await app.fetch(new Request('http://localhost/page', { method }));
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, HEAD, POST, OPTIONS', method);
      await response.text();
    }
    const server = await startServer(app);
    try {
      const response = await rawRequest(server, rawGet('/page', {}, 'PURGE'));
      assert.equal(response.status, 405);
      assert.equal(response.headers.allow, 'GET, HEAD, POST, OPTIONS');
      assert.equal((await rawRequest(server, rawGet('/nowhere', {}, 'PURGE'))).status, 404);
    } finally {
      await server.close();
    }
  });
});
