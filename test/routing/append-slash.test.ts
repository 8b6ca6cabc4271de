import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, include, post, redirect, route, type MiddlewareHooks } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { serveForSuite } from '../helpers.js';

const ok = () => new HttpResponse('ok');

describe('appendSlash', () => {
  const routes = [get('/docs/', ok), post('/forms/', ok), include('/api', [get('/notes/', ok)]), get('/exact', ok), get('/items', ok), post('/items/', ok), get('/files/*', ok)];
  const served = serveForSuite(createApp({ appendSlash: true, routes }));

  test('a miss whose slash form has a route: 301 to it for GET and HEAD, the query string kept', async () => {
    for (const method of ['GET', 'HEAD']) {
      const response = await served.raw('/docs?page=2&q=a%20b', {}, method);
      assert.equal(response.status, 301);
      assert.equal(response.headers.location, '/docs/?page=2&q=a%20b');
    }
    const nested = await served.raw('/api/notes');
    assert.equal(nested.status, 301);
    assert.equal(nested.headers.location, '/api/notes/');
  });

  test('other methods get a 308, which keeps the method and the body', async () => {
    const response = await fetch(`${served.server.url}/forms?x=1`, { method: 'POST', body: 'a=1', redirect: 'manual' });
    assert.equal(response.status, 308);
    assert.equal(response.headers.get('location'), '/forms/?x=1');
    const followed = await fetch(`${served.server.url}/forms`, { method: 'POST', body: 'a=1' });
    assert.equal(followed.status, 200);
  });

  test('no redirect when the path has a route, or when its slash form has none', async () => {
    assert.equal((await served.raw('/exact')).status, 200);
    const miss = await served.raw('/nothing');
    assert.equal(miss.status, 404);
    assert.equal(miss.body.toString(), 'no route for GET /nothing');
    assert.equal((await served.raw('/exact/')).status, 404);
  });

  test('a path that answers other methods gets its 405, never a redirect (Django redirects only a path no route takes): a POST to a GET route, a wildcard\'s too', async () => {
    for (const path of ['/items', '/files/report.pdf']) {
      const response = await served.raw(path, { 'content-length': '0' }, 'POST');
      assert.equal(response.status, 405, path);
      assert.equal(response.headers.allow, 'GET, HEAD, OPTIONS', path);
      assert.equal(response.headers.location, undefined, path);
    }
  });

  test('a path starting with "//" is redirected to a path on this host, never to another host', async () => {
    const app = createApp({ appendSlash: true, routes: [route('GET', '//evil.example/', ok)] });
    const response = await createTestClient(app).get('//evil.example');
    assert.equal(response.status, 301);
    assert.equal(response.headers.get('location'), '/%2Fevil.example/');
  });

  test("the redirect is routing's answer to a miss, not a view: no processView or processException hook sees it, and processResponse does (Django's CommonMiddleware redirects the resolver's 404; a login-required processView sent /about to /login)", async () => {
    const events: string[] = [];
    const loginRequired: MiddlewareHooks = {
      processView(_request, view) {
        events.push(`processView ${view.name}`);
        if ((view as { public?: boolean }).public !== true) return redirect('/login');
      },
      processException: () => void events.push('processException'),
      processResponse: (_request, response) => (events.push(`processResponse ${response.status}`), response),
    };
    const about = Object.assign(function about() { return new HttpResponse('about'); }, { public: true });
    const client = createTestClient(createApp({ appendSlash: true, middleware: [loginRequired], routes: [get('/about/', about)] }));
    const response = await client.get('/about');
    assert.equal(response.status, 301);
    assert.equal(response.headers.get('location'), '/about/');
    assert.deepEqual(events, ['processResponse 301']);
    assert.equal(await (await client.get('/about/')).text(), 'about');
    assert.deepEqual(events, ['processResponse 301', 'processView about', 'processResponse 200']);
  });

  test('a miss whose redirect would be too long to send (past redirect()\'s 16384 characters, percent-encoded) is the 404 it would be without appendSlash, not a 500', async () => {
    const client = createTestClient(createApp({ appendSlash: true, routes: [get('/tags/:name/', ok)] }));
    const name = '{'.repeat(6000);
    const response = await client.get(`/tags/${name}`);
    assert.equal(response.status, 404);
    assert.match(await response.text(), /^no route for GET \/tags\/\{+…: the redirect to its slash form would be longer than clients read$/);
    assert.equal((await client.get('/tags/short')).headers.get('location'), '/tags/short/');
  });

  test('off by default: the same miss is a 404', async () => {
    const response = await createTestClient(createApp({ routes })).get('/docs');
    assert.equal(response.status, 404);
    assert.throws(() => createApp({ appendSlash: 'yes' } as never), /appendSlash must be true or false, got string "yes"/);
  });
});
