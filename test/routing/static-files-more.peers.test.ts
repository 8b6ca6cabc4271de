// More static-file cases ported from the peers' suites: expressjs/serve-static
// (test/test.js) and fastify/fastify-static (test/static.test.js), beside
// static-files.peers.test.ts (which these do not repeat). Each test names its
// peer case; where Coda answers otherwise by choice, the test says so, and
// docs/web.md ("Static files, as the peers differ") says why.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createApp, FileResponse, get as getRoute, staticFiles } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { serveForSuite } from '../helpers.js';

/** serve-static's and fastify-static's fixtures, as far as these cases read them. */
function makeFixtures(): { base: string; root: string } {
  const base = mkdtempSync(path.join(tmpdir(), 'coda-static-more-'));
  const root = path.join(base, 'public');
  const files: Record<string, string> = {
    'todo.txt': '- groceries',
    'todo.txt.gz': 'not gzip, a stand-in',
    'todo.txt.br': 'not brotli, a stand-in',
    'foo bar': 'baz',
    'users/tobi.txt': 'ferret',
    'users/index.html': '<p>tobi, loki, jane</p>',
    'both/index.htm': 'htm',
    'both/index.html': 'html',
    'a+b.txt': 'plus',
    'a#b.txt': 'hash',
    'a?b.txt': 'question',
    "it's.txt": 'quote',
    'semi;colon.txt': 'semicolon',
    'ü.txt': 'umlaut',
    '..foo': 'two dots',
    'app.js': 'export {};',
    'app.mjs': 'export {};',
    'big.bin': 'x'.repeat(200_000),
  };
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
  }
  symlinkSync(root, path.join(base, 'link'));
  return { base, root };
}

describe('staticFiles() and FileResponse, as more of serve-static and fastify-static test them', { timeout: 20_000 }, () => {
  const { base, root } = makeFixtures();
  const app = createApp({
    routes: [
      staticFiles('/off', { root, index: false }),
      staticFiles('/plain', { root, acceptRanges: false, etag: false, lastModified: false }),
      staticFiles('/year', { root, maxAge: 100 * 365 * 86_400_000 }),
      staticFiles('/alt', { root, index: ['index.htm', 'index.html'] }),
      staticFiles('/allow', { root, dotfiles: 'allow' }),
      staticFiles('/deny', { root, dotfiles: 'deny' }),
      staticFiles('/link', { root: path.join(base, 'link') }),
      getRoute('/send/missing-page', () => new FileResponse(path.join(root, 'todo.txt'), { status: 404 })),
      getRoute('/send/app.js', () => new FileResponse(path.join(root, 'app.js'))),
      getRoute('/download', () => new FileResponse(path.join(root, 'todo.txt'), { asAttachment: true, filename: 'groceries (1).txt' })),
      staticFiles('/', { root }),
    ],
  });
  const { raw: get } = serveForSuite(app, () => rmSync(base, { recursive: true, force: true }));
  const client = createTestClient(app);

  test('serve-static "should set Content-Type", "should default max-age=0", immutable "should default to false"', async () => {
    const response = await client.get('/todo.txt');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'public, max-age=0');
    assert.equal(await response.text(), '- groceries');
  });

  test('serve-static "should support urlencoded pathnames", "should support nesting", and file names with special characters', async () => {
    const names: Record<string, string> = {
      '/foo%20bar': 'baz', '/users/tobi.txt': 'ferret', '/a+b.txt': 'plus', '/a%2Bb.txt': 'plus', '/a%23b.txt': 'hash',
      '/a%3Fb.txt': 'question', "/it's.txt": 'quote', '/semi;colon.txt': 'semicolon', '/%C3%BC.txt': 'umlaut',
    };
    for (const [target, body] of Object.entries(names)) {
      const response = await get(target);
      assert.equal(response.status, 200, target);
      assert.equal(response.body.toString(), body, target);
    }
    // An unencoded '#' or '?' ends the path: the file is another.
    assert.equal((await get('/a?b.txt')).status, 404);
  });

  test('serve-static "should not choke on auth-looking URL": a 404, not a redirect elsewhere', async () => {
    const response = await get('//todo@txt');
    assert.equal(response.status, 404);
    assert.equal(response.headers.location, undefined);
  });

  test('serve-static "should support ../": Coda refuses a ".." segment with a 403 even when it stays inside the root, by choice', async () => {
    const response = await get('/users/../todo.txt');
    assert.equal(response.status, 403);
    assert.ok(!response.body.includes('groceries'));
  });

  test('serve-static "should skip POST requests": a 405 naming the methods, since there is no fall-through', async () => {
    const response = await client.post('/todo.txt');
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD, OPTIONS');
  });

  test('serve-static "should support precondition checks": If-Match with another tag is a 412', async () => {
    assert.equal((await client.get('/todo.txt', { headers: { 'if-match': '"foo"' } })).status, 412);
  });

  test('serve-static acceptRanges "when false": no Accept-Ranges, and a Range is ignored for the whole file', async () => {
    const response = await get('/plain/todo.txt', { range: 'bytes=0-0' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['accept-ranges'], undefined);
    assert.equal(response.body.toString(), '- groceries');
  });

  test('serve-static lastModified "when false", fastify-static etag false: no validators, and a date condition holds nothing back', async () => {
    const future = new Date(Date.now() + 60_000).toUTCString();
    const response = await get('/plain/todo.txt', { 'if-modified-since': future });
    assert.equal(response.status, 200);
    assert.equal(response.headers['last-modified'], undefined);
    assert.equal(response.headers.etag, undefined);
    assert.equal(response.body.toString(), '- groceries');
  });

  test('serve-static maxAge "should be reasonable when infinite": a maxAge past a year is sent as a year; Infinity is refused', async () => {
    assert.equal((await client.get('/year/todo.txt')).headers.get('cache-control'), 'public, max-age=31536000');
    assert.throws(() => staticFiles('/x', { root, maxAge: Infinity }), /maxAge must be a whole number of milliseconds, got number Infinity/);
  });

  test('serve-static "when index file serving disabled": "should redirect to trailing slash", a directory then a 404', async () => {
    const users = await get('/off/users?x=1');
    assert.equal(users.status, 301);
    assert.equal(users.headers.location, '/off/users/?x=1');
    assert.equal((await get('/off/users/')).status, 404);
  });

  test('serve-static "when index at mount point" and fastify-static "/static" with redirect: the prefix alone is no route of its own; appendSlash redirects it', async () => {
    assert.equal((await client.get('/off')).status, 404);
    const appended = createTestClient(createApp({ appendSlash: true, routes: [staticFiles('/static', { root: path.join(root, 'users') })] }));
    const redirected = await appended.get('/static?a=b');
    assert.equal(redirected.status, 301);
    assert.equal(redirected.headers.get('location'), '/static/?a=b');
    assert.equal(await (await appended.get('/static/')).text(), '<p>tobi, loki, jane</p>');
  });

  test('fastify-static "register with wildcard false and alternative index": the first index listed that exists is sent', async () => {
    assert.equal((await get('/alt/both/')).body.toString(), 'htm');
    assert.equal((await get('/alt/users/')).body.toString(), '<p>tobi, loki, jane</p>');
  });

  test('fastify-static "should follow symbolic link": a root that is a symlink to a folder serves the folder', async () => {
    const response = await get('/link/users/tobi.txt');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'ferret');
  });

  test('fastify-static dotfiles: a name that starts with two dots is a dotfile, not a ".." segment', async () => {
    assert.equal((await get('/..foo')).status, 404);
    assert.equal((await get('/deny/..foo')).status, 403);
    assert.equal((await get('/allow/..foo')).body.toString(), 'two dots');
  });

  test('fastify-static "content-length in head route should not return zero": a HEAD of a streamed file has its length, no body', async () => {
    const response = await get('/big.bin', {}, 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], '200000');
    assert.equal(response.body.length, 0);
  });

  test('fastify-static ETag and Last-Modified: a file changed gets new validators, and the old ones no longer answer 304 or keep a range', async (t) => {
    const file = path.join(root, 'changing.txt');
    writeFileSync(file, 'one');
    t.after(() => rmSync(file, { force: true }));
    const first = await get('/changing.txt');
    writeFileSync(file, 'two');
    const later = new Date(Date.parse(first.headers['last-modified']!) + 10_000);
    utimesSync(file, later, later);
    const byTag = await get('/changing.txt', { 'if-none-match': first.headers.etag! });
    assert.equal(byTag.status, 200);
    assert.notEqual(byTag.headers.etag, first.headers.etag);
    assert.equal(byTag.body.toString(), 'two');
    assert.equal((await get('/changing.txt', { 'if-modified-since': first.headers['last-modified']! })).status, 200);
    const ranged = await get('/changing.txt', { 'if-range': first.headers['last-modified']!, range: 'bytes=0-0' });
    assert.equal(ranged.status, 200);
    assert.equal(ranged.body.toString(), 'two');
  });

  test('fastify-static preCompressed: Coda has none; a .gz or .br beside the file is never sent in its place, and one asked for is sent as itself', async () => {
    const response = await get('/todo.txt', { 'accept-encoding': 'br, gzip' });
    assert.equal(response.body.toString(), '- groceries');
    assert.equal(response.headers['content-encoding'], undefined);
    const gz = await get('/todo.txt.gz', { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-type'], 'application/gzip');
    assert.equal(gz.headers['content-encoding'], undefined);
  });

  test('fastify-static "respect the .code when using with sendFile": a FileResponse with another status goes out as it is, never a 304 or 206', async () => {
    const { headers } = await get('/send/missing-page');
    for (const conditions of [{ 'if-none-match': headers.etag! }, { range: 'bytes=0-0' }] as Record<string, string>[]) {
      const response = await get('/send/missing-page', conditions);
      assert.equal(response.status, 404);
      assert.equal(response.body.toString(), '- groceries');
    }
  });

  test('fastify-static "reply.download() with fileName": an attachment under the name given', async () => {
    const response = await get('/download');
    assert.equal(response.headers['content-disposition'], 'attachment; filename="groceries (1).txt"');
    assert.equal(response.body.toString(), '- groceries');
  });

  test('serve-static (send 1, mime-types 3) types JavaScript as RFC 9239 does: text/javascript, never the obsolete application/javascript', async () => {
    for (const target of ['/app.js', '/app.mjs', '/send/app.js']) {
      assert.equal((await client.get(target)).headers.get('content-type'), 'text/javascript; charset=utf-8', target);
    }
  });
});
