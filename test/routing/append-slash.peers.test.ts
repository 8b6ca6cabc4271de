// appendSlash cases ported from Django's CommonMiddleware tests
// (tests/middleware/tests.py, CommonMiddlewareTest.test_append_slash_*),
// over a real socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, route } from 'coda-http';
import { rawGet, rawRequest, serveForSuite, startServer } from '../helpers.js';

const ok = () => new HttpResponse('ok');

describe("appendSlash, as Django's CommonMiddleware tests test it", { timeout: 10_000 }, () => {
  const { raw } = serveForSuite(createApp({
    appendSlash: true,
    routes: [get('/slash/', ok), get('/noslash', ok), route('GET', '//evil.com/security/', ok), get('/pages/:slug/', ok)],
  }));
  const location = async (target: string) => {
    const response = await raw(target);
    return { status: response.status, location: response.headers.location };
  };

  test("'test_append_slash_have_slash', '_slashless_resource', '_slashless_unknown': left alone", async () => {
    assert.equal((await location('/slash/')).status, 200);
    assert.equal((await location('/noslash')).status, 200);
    assert.equal((await location('/unknown')).status, 404);
  });

  test("'test_append_slash_redirect_querystring', '..._have_slash': the query kept as sent, a slash in it included", async () => {
    assert.deepEqual(await location('/slash?test=1'), { status: 301, location: '/slash/?test=1' });
    assert.deepEqual(await location('/slash?test=slash/'), { status: 301, location: '/slash/?test=slash/' });
  });

  test("'test_append_slash_quoted': a path that needs quoting is redirected quoted (through a param: a route pattern cannot hold '#')", async () => {
    assert.deepEqual(await location('/pages/needsquoting%23'), { status: 301, location: '/pages/needsquoting%23/' });
  });

  test("'test_append_slash_leading_slashes': never a protocol-relative location", async () => {
    assert.deepEqual(await location('//evil.com/security'), { status: 301, location: '/%2Fevil.com/security/' });
  });

  test('a backslash after the first slash is a separator to browsers: never a location they read as another host', async (t) => {
    const pages = await startServer(createApp({ appendSlash: true, routes: [get('/:page/', ok)] }));
    t.after(() => pages.close());
    const cases: [string, string][] = [['/\\evil.com', '/%5Cevil.com/'], ['/\\\\evil.com', '/%5C%5Cevil.com/'], ['/%5Cevil.com', '/%5Cevil.com/']];
    for (const [target, expected] of cases) {
      const response = await rawRequest(pages, rawGet(target));
      assert.equal(response.status, 301, target);
      assert.equal(response.headers.location, expected, target);
      // The location names the same route.
      assert.equal((await rawRequest(pages, rawGet(expected))).status, 200, expected);
    }
  });
});
