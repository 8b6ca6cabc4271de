// Static-file cases ported from peers' own suites, over real sockets:
// pillarjs/send (test/send.js), expressjs/serve-static (test/test.js) and
// fastify/fastify-static (test/static.test.js). Each test names its source.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createApp, get as getRoute, HttpResponse, staticFiles } from 'coda-http';
import { serveForSuite } from '../helpers.js';

/** send's and serve-static's fixtures, as far as these cases read them. */
function makeFixtures(): string {
  const base = mkdtempSync(path.join(tmpdir(), 'coda-static-peers-'));
  const files: Record<string, string> = {
    'nums.txt': '123456789',
    'name.txt': 'tobi',
    'empty.txt': '',
    'do..ts.txt': '...',
    'some thing.txt': 'hey',
    '100%.txt': 'percent',
    'no_ext': 'foobar',
    'tobi.html': '<p>tobi</p>',
    '.hidden.txt': 'secret',
    '.mine/name.txt': 'tobi',
    'name.d/name.txt': 'loki',
    'name.dir/name.txt': 'tobi',
    'users/index.html': '<p>tobi, loki, jane</p>',
    'snow ☃/index.html': 'snow',
    '[...]/a .md': 'dots',
    'deep/path/for/test/purpose/foo.html': 'guarded',
  };
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(base, 'public', name)), { recursive: true });
    writeFileSync(path.join(base, 'public', name), content);
  }
  return base;
}

describe('staticFiles(), as send, serve-static and fastify-static test it', { timeout: 10_000 }, () => {
  const base = makeFixtures();
  const root = path.join(base, 'public');
  const { raw: get } = serveForSuite(createApp({
    routes: [
      // fastify-static's guard: a route that must not be reached around through the static files.
      getRoute('/deep/*', () => new HttpResponse('Unauthorized', { status: 401 })),
      staticFiles('/nested', { root: path.join(root, 'name.d') }),
      staticFiles('/dot', { root: path.join(root, '.mine'), dotfiles: 'deny' }),
      staticFiles('/deny', { root, dotfiles: 'deny' }),
      staticFiles('/allow', { root, dotfiles: 'allow' }),
      staticFiles('/ext', { root, extensions: ['dir', 'html'] }),
      staticFiles('/app/:version', { root }),
      staticFiles('/', { root }),
    ],
  }), () => rmSync(base, { recursive: true, force: true }));

  test('send: zero-length files, encoded names, dots inside a name, a name too long for the file system', async () => {
    const empty = await get('/empty.txt');
    assert.equal(empty.status, 200);
    assert.equal(empty.headers['content-length'], '0');
    assert.equal((await get('/some%20thing.txt')).body.toString(), 'hey');
    assert.equal((await get('/do..ts.txt')).body.toString(), '...');
    // fastify-static "percent encoded URLs in glob mode".
    assert.equal((await get('/100%25.txt')).body.toString(), 'percent');
    assert.equal((await get('/%5B...%5D/a%20.md')).body.toString(), 'dots');
    assert.equal((await get(`/${'foobar'.repeat(99)}`)).status, 404);
  });

  test('send: content types from the extension, octet-stream without one', async () => {
    assert.equal((await get('/tobi.html')).headers['content-type'], 'text/html; charset=utf-8');
    assert.equal((await get('/no_ext')).headers['content-type'], 'application/octet-stream');
  });

  test('send: a malformed URI or a NUL byte is a 400', async () => {
    assert.equal((await get('/some%99thing.txt')).status, 400);
    assert.equal((await get('/some%00thing.txt')).status, 400);
  });

  test('send: a 304 drops the content headers', async () => {
    const { headers } = await get('/name.txt');
    const notModified = await get('/name.txt', { 'if-none-match': headers.etag! });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['content-type'], undefined);
    assert.equal(notModified.headers['content-length'], undefined);
    assert.equal(notModified.body.length, 0);
  });

  test('send: If-Match and If-Unmodified-Since', async () => {
    const { headers } = await get('/name.txt');
    assert.equal((await get('/name.txt', { 'if-match': '*' })).status, 200);
    // send's own test has 200: its ETags are weak, and RFC 9110 13.1.1 compares If-Match strongly.
    assert.equal((await get('/name.txt', { 'if-match': headers.etag! })).status, 412);
    assert.equal((await get('/name.txt', { 'if-unmodified-since': headers['last-modified']! })).status, 200);
    const before = new Date(Date.parse(headers['last-modified']!) - 20_000).toUTCString();
    assert.equal((await get('/name.txt', { 'if-unmodified-since': before })).status, 412);
    assert.equal((await get('/name.txt', { 'if-unmodified-since': 'foo' })).status, 200);
  });

  test('send: byte ranges, inclusive, open-ended and suffix, clamped to the length', async () => {
    const cases: [string, number, string, string | undefined][] = [
      ['bytes=0-4', 206, '12345', 'bytes 0-4/9'],
      ['bytes=0-0', 206, '1', 'bytes 0-0/9'],
      ['bytes=-3', 206, '789', 'bytes 6-8/9'],
      ['bytes=3-', 206, '456789', 'bytes 3-8/9'],
      ['bytes=2-50', 206, '3456789', 'bytes 2-8/9'],
      // Not a byte range, syntactically invalid, or several ranges that do not merge: the whole file.
      ['items=0-4', 200, '123456789', undefined],
      ['asdf', 200, '123456789', undefined],
      ['bytes=1-1,3-', 200, '123456789', undefined],
      // Ranges that merge into one.
      ['bytes=1-2,3-5', 206, '23456', 'bytes 1-5/9'],
    ];
    for (const [range, status, body, contentRange] of cases) {
      const response = await get('/nums.txt', { range });
      assert.equal(response.status, status, range);
      assert.equal(response.body.toString(), body, range);
      assert.equal(response.headers['content-range'], contentRange, range);
      assert.equal(response.headers['content-length'], String(body.length), range);
    }
    const beyond = await get('/nums.txt', { range: 'bytes=9-50' });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */9');
  });

  test('send: If-Range: the range when the validator still holds, the whole file otherwise', async () => {
    const { headers } = await get('/nums.txt');
    const etag = headers.etag!;
    const modified = headers['last-modified']!;
    const cases: [string, number][] = [
      // send's own test has 206: its ETags are weak, and RFC 9110 13.1.5 lets no weak tag match.
      [etag, 200],
      [etag.replace(/"(.)/, '"0$1'), 200],
      [modified, 206],
      [new Date(Date.parse(modified) - 20_000).toUTCString(), 200],
      ['foo', 200],
    ];
    for (const [ifRange, status] of cases) {
      const response = await get('/nums.txt', { 'if-range': ifRange, range: 'bytes=0-0' });
      assert.equal(response.status, status, ifRange);
      assert.equal(response.body.toString(), status === 206 ? '1' : '123456789', ifRange);
    }
  });

  test('send: no way out of the root, nor into a sibling whose name starts like it', async () => {
    // "should not allow root transversal": root name.d, sibling name.dir.
    for (const target of ['/nested/../name.dir/name.txt', '/nested/%2e%2e/name.dir/name.txt']) {
      const response = await get(target);
      assert.equal(response.status, 403, target);
      assert.ok(!response.body.includes('tobi'), target);
    }
    assert.equal((await get('/nested/name.txt')).body.toString(), 'loki');
    // "should not allow root path disclosure".
    assert.equal((await get('/users/../../public/name.txt')).status, 403);
  });

  test('send: dotfiles ignored by default, denied or allowed on request; a root inside a dot folder is served', async () => {
    assert.equal((await get('/.hidden.txt')).status, 404);
    assert.equal((await get('/.mine/name.txt')).status, 404);
    assert.equal((await get('/.mine/')).status, 404);
    assert.equal((await get('/deny/.hidden.txt')).status, 403);
    assert.equal((await get('/deny/.mine')).status, 403);
    assert.equal((await get('/deny/.mine/')).status, 403);
    assert.equal((await get('/deny/.mine/name.txt')).status, 403);
    assert.equal((await get('/deny/.nothing')).status, 403);
    assert.equal((await get('/allow/.hidden.txt')).body.toString(), 'secret');
    assert.equal((await get('/allow/.mine/name.txt')).body.toString(), 'tobi');
    assert.equal((await get('/allow/.nothing')).status, 404);
    assert.equal((await get('/dot/name.txt')).body.toString(), 'tobi');
  });

  test('send: extensions are tried in order, skipping directories, not for a path that has one', async () => {
    assert.equal((await get('/ext/tobi')).body.toString(), '<p>tobi</p>');
    assert.equal((await get('/ext/name')).status, 404);
    assert.equal((await get('/ext/tobi.txt')).status, 404);
  });

  test('serve-static: a directory redirects to its slash form, query kept, the location encoded', async () => {
    const users = await get('/users?name=john');
    assert.equal(users.status, 301);
    assert.equal(users.headers.location, '/users/?name=john');
    const snow = await get('/snow%20%E2%98%83');
    assert.equal(snow.status, 301);
    assert.equal(snow.headers.location, '/snow%20%E2%98%83/');
    assert.equal((await get('/snow%20%E2%98%83/')).body.toString(), 'snow');
    assert.equal((await get('/users/')).headers['content-type'], 'text/html; charset=utf-8');
    // "should not redirect incorrectly": the root without an index.
    assert.equal((await get('/')).status, 404);
  });

  test('a folder reached through a dot segment redirects to its canonical slash form, never to a dot-segment path', async () => {
    // serve-static answers `/users/.` with a 301 to `/users/./`: a location a client resolves to `/users/` (RFC 3986 5.2.4),
    // a cache or a log keeps apart. nginx merges the dot segments before it looks, as the location here does.
    const canonical: Record<string, string> = {
      '/users/.': '/users/', '/users/%2E': '/users/', '/users/%2e?x=1': '/users/?x=1', '/./users': '/users/', '/.': '/',
      '/nested/.': '/nested/', '/.//users/.': '/%2Fusers/',
    };
    for (const [target, location] of Object.entries(canonical)) {
      const response = await get(target);
      assert.equal(response.status, 301, target);
      assert.equal(response.headers.location, location, target);
    }
    // Where it leads is served, with no second redirect; a "." segment before a slash or a file is served as it is.
    assert.equal((await get('/users/')).body.toString(), '<p>tobi, loki, jane</p>');
    assert.equal((await get('/users/./')).body.toString(), '<p>tobi, loki, jane</p>');
    assert.equal((await get('/./name.txt')).body.toString(), 'tobi');
    for (const target of ['/users/..', '/users/%2E%2E', '/users/.%2E/x', '/nested/..']) assert.equal((await get(target)).status, 403, target);
  });

  test('serve-static and fastify-static: a redirect is never protocol-relative', async () => {
    const targets = ['//users', '//todo@txt', '//^/..', '//^/.', '//:/..', '/\\\\a//google.com/%2e%2e%2f%2e%2e', '//a//youtube.com/%2e%2e%2f%2e%2e', '//google.com/%2e%2e', '//users/%2e%2e', '/\\users'];
    for (const target of targets) {
      const response = await get(target);
      const location = response.headers.location;
      assert.ok(location === undefined || (location.startsWith('/') && !/^\/[/\\]/.test(location)), `${target}: Location ${location}`);
      assert.notEqual(response.status, 200, target);
    }
  });

  test('fastify-static: dot-dot segments never reach a file past a guarded route, also through a param of the prefix', async () => {
    assert.equal((await get('/deep/path/for/test/purpose/foo.html')).status, 401);
    for (const target of [
      '/foo/../deep/path/for/test/purpose/foo.html',
      '/foo/%2e%2e/deep/path/for/test/purpose/foo.html',
      '/foo/%2E%2E/deep/path/for/test/purpose/foo.html',
      '/app/../deep/path/for/test/purpose/foo.html',
      '/app/%2e%2e/deep/path/for/test/purpose/foo.html',
      '/app/%2E%2E/deep/path/for/test/purpose/foo.html',
    ]) {
      const response = await get(target);
      assert.equal(response.status, 403, target);
      assert.ok(!response.body.includes('guarded'), target);
    }
    assert.equal((await get('/app/1.2.3/name.txt')).body.toString(), 'tobi');
  });

  test('fastify-static: an encoded separator does not pass for a real one', async () => {
    const response = await get('/deep%2Fpath/for/test/purpose/foo.html');
    assert.equal(response.status, 400);
    assert.ok(!response.body.includes('guarded'));
  });
});
