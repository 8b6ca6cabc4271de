// reverse() cases ported from Django's tests/urlpatterns_reverse/tests.py
// (URLPatternReverse test_data: 'security', 'windows', 'special', the
// include() prefixes), each reversed path also resolved over a real socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, include, JsonResponse, type HttpRequest } from 'coda-http';
import { serveForSuite } from '../helpers.js';

const echo = (request: HttpRequest) => new JsonResponse({ route: request.route, params: request.params });

describe("reverse(), as Django's urlpatterns_reverse tests test it", { timeout: 10_000 }, () => {
  const app = createApp({
    routes: [
      get('/*', echo, { name: 'security' }),
      get('/windows_path/:drive/', echo, { name: 'windows' }),
      include('/included', [get('/special/:chars/', echo, { name: 'special' })], { namespace: 'inc' }),
    ],
  });
  const { raw } = serveForSuite(app);
  const resolve = async (path: string) => JSON.parse((await raw(path)).body.toString()) as { route: string; params: Record<string, string> };

  test("'security': a value that starts with a slash never makes a protocol-relative path", async () => {
    const path = app.reverse('security', { '*': '/example.com' });
    assert.ok(!path.startsWith('//'), path);
    assert.equal(path, '/%2Fexample.com');
    assert.deepEqual(await resolve(path), { route: '/*', params: { '*': '/example.com' } });
  });

  test("'windows', 'special': characters that need quoting are quoted, and resolve back to the same values", async () => {
    const windows = app.reverse('windows', { drive: 'C:\\Documents and Settings\\spam' });
    assert.equal(windows, '/windows_path/C%3A%5CDocuments%20and%20Settings%5Cspam/');
    assert.deepEqual((await resolve(windows)).params, { drive: 'C:\\Documents and Settings\\spam' });
    const chars = '~!@#$%^&*()-_=+[]{}|;:\'",.<>/?';
    const special = app.reverse('inc:special', { chars });
    assert.ok(special.startsWith('/included/special/') && !special.slice(1).includes('//'), special);
    assert.deepEqual(await resolve(special), { route: '/included/special/:chars/', params: { chars } });
  });
});
