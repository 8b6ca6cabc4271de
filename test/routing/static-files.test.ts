import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createApp, include, staticFiles, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { LEVEL, memoryLogger, openUnder, rawGet, rawRequest, serveForSuite, startServer } from '../helpers.js';

/** A temporary tree: public/ (the root) beside a secret file and folder that must never be served. */
function makeTree(): { base: string; root: string; big: Buffer } {
  const base = mkdtempSync(path.join(tmpdir(), 'coda-static-'));
  const root = path.join(base, 'public');
  mkdirSync(path.join(root, 'css'), { recursive: true });
  mkdirSync(path.join(root, 'docs'));
  mkdirSync(path.join(root, 'empty'));
  mkdirSync(path.join(root, '.git'));
  mkdirSync(path.join(base, 'outside'));
  writeFileSync(path.join(base, 'secret.txt'), 'top secret');
  writeFileSync(path.join(base, 'outside', 'secret.txt'), 'top secret');
  writeFileSync(path.join(root, 'hello.txt'), 'hello, world\n');
  writeFileSync(path.join(root, 'css', 'site.css'), 'body { color: red }');
  writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>');
  writeFileSync(path.join(root, '.env'), 'SECRET=1');
  writeFileSync(path.join(root, '.git', 'config'), '[core]');
  const big = Buffer.alloc(1024 * 1024, 'abcdefghij');
  writeFileSync(path.join(root, 'big.bin'), big);
  symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'leak.txt'));
  symlinkSync(path.join(base, 'outside'), path.join(root, 'outdir'));
  symlinkSync(path.join(root, 'hello.txt'), path.join(root, 'alias.txt'));
  return { base, root, big };
}

describe('staticFiles()', () => {
  const { base, root, big } = makeTree();
  const outcomes: Outcome[] = [];
  const app = createApp({
    middleware: [{ afterResponse(_request, _response, outcome) { outcomes.push(outcome); } }],
    routes: [
      staticFiles('/assets', { root, maxAge: 86_400_000, immutable: true }),
      include('/v1', [staticFiles('/files', { root, dotfiles: 'deny', index: false })]),
      staticFiles('/unvalidated', { root, etag: false, lastModified: false }),
    ],
  });
  const served = serveForSuite(app, () => rmSync(base, { recursive: true, force: true }));
  const get = served.raw;

  test('sends a file with its content type, length, validators and cache policy', async () => {
    const response = await get('/assets/css/site.css');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'body { color: red }');
    assert.equal(response.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(response.headers['content-length'], '19');
    assert.equal(response.headers['cache-control'], 'public, max-age=86400, immutable');
    assert.equal(response.headers['accept-ranges'], 'bytes');
    assert.match(response.headers.etag!, /^W\/"13-[0-9a-f]+"$/);
    assert.ok(!Number.isNaN(Date.parse(response.headers['last-modified']!)));
  });

  test('HEAD: the same headers, no body', async () => {
    const response = await get('/assets/hello.txt', {}, 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], '13');
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response.raw.toString('latin1').split('\r\n\r\n')[1], '');
  });

  test('conditional GET: a matching If-None-Match or a recent If-Modified-Since is a 304 without a body', async () => {
    const { headers } = await get('/assets/hello.txt');
    const byTag = await get('/assets/hello.txt', { 'if-none-match': headers.etag! });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body.length, 0);
    assert.equal(byTag.headers.etag, headers.etag);
    const byDate = await get('/assets/hello.txt', { 'if-modified-since': headers['last-modified']! });
    assert.equal(byDate.status, 304);
    const changed = await get('/assets/hello.txt', { 'if-none-match': 'W/"other"' });
    assert.equal(changed.status, 200);
    const failed = await get('/assets/hello.txt', { 'if-match': '"other"' });
    assert.equal(failed.status, 412);
    assert.equal(failed.body.toString(), '/assets/hello.txt does not match the request\'s preconditions');
  });

  test('RFC 9110 13.2.2 precedence: If-Unmodified-Since is ignored when If-Match is present, If-Modified-Since when If-None-Match is', async () => {
    const { headers } = await get('/assets/hello.txt');
    const lastModified = Date.parse(headers['last-modified']!);
    const before = new Date(lastModified - 86_400_000).toUTCString();
    const since = new Date(lastModified + 86_400_000).toUTCString();
    const cases: [conditions: Record<string, string>, status: number][] = [
      [{ 'if-unmodified-since': before }, 412],
      [{ 'if-match': '*', 'if-unmodified-since': before }, 200],
      [{ 'if-match': '"other"', 'if-unmodified-since': since }, 412],
      [{ 'if-modified-since': since }, 304],
      [{ 'if-none-match': 'W/"other"', 'if-modified-since': since }, 200],
      [{ 'if-none-match': headers.etag!, 'if-modified-since': before }, 304],
    ];
    for (const [conditions, status] of cases) {
      const response = await get('/assets/hello.txt', conditions);
      assert.equal(response.status, status, JSON.stringify(conditions));
    }
  });

  test('If-Modified-Since, If-Unmodified-Since and If-Range dates that are not HTTP-dates (RFC 9110 5.6.7) are ignored, as Django ignores them; the three formats are read as GMT wherever the server is', async () => {
    const { headers } = await get('/assets/hello.txt');
    const lastModified = new Date(Date.parse(headers['last-modified']!));
    const iso = lastModified.toISOString();
    const cases: [conditions: Record<string, string>, status: number][] = [
      // Date.parse reads these as dates: '3100' as 3100-01-01, '2000' as 2000-01-01.
      [{ 'if-modified-since': '3100' }, 200],
      [{ 'if-modified-since': '2100-01-01T00:00:00Z' }, 200],
      [{ 'if-modified-since': headers['last-modified']!.toLowerCase() }, 200],
      [{ 'if-unmodified-since': '2000' }, 200],
      [{ 'if-unmodified-since': 'Sat, 01 Jan 2000 00:00:00 +0000' }, 200],
      [{ 'if-range': iso, range: 'bytes=0-4' }, 200],
      [{ 'if-modified-since': headers['last-modified']! }, 304],
    ];
    for (const [conditions, status] of cases) {
      assert.equal((await get('/assets/hello.txt', conditions)).status, status, JSON.stringify(conditions));
    }
    // The obsolete formats a recipient must still read (RFC 9110 5.6.7): rfc850 and asctime, the latter without a zone, in GMT.
    const [weekday, day, month, year, time] = lastModified.toUTCString().replace(',', '').split(' ') as [string, string, string, string, string];
    const long = { Sun: 'Sunday', Mon: 'Monday', Tue: 'Tuesday', Wed: 'Wednesday', Thu: 'Thursday', Fri: 'Friday', Sat: 'Saturday' }[weekday]!;
    const rfc850 = `${long}, ${day}-${month}-${year.slice(2)} ${time} GMT`;
    const asctime = `${weekday} ${month} ${day.replace(/^0/, ' ')} ${time} ${year}`;
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      for (const date of [rfc850, asctime]) {
        assert.equal((await get('/assets/hello.txt', { 'if-modified-since': date })).status, 304, date);
        assert.equal((await get('/assets/hello.txt', { 'if-range': date, range: 'bytes=0-4' })).status, 206, date);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  test('Range: 206 with Content-Range; an unsatisfiable range is a 416 naming it', async () => {
    const part = await get('/assets/hello.txt', { range: 'bytes=0-4' });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), 'hello');
    assert.equal(part.headers['content-range'], 'bytes 0-4/13');
    const tail = await get('/assets/big.bin', { range: 'bytes=-10' });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, big.subarray(big.length - 10));
    const beyond = await get('/assets/hello.txt', { range: 'bytes=500-600' });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */13');
    assert.equal(beyond.body.toString(), 'range bytes=500-600 is not satisfiable for /assets/hello.txt: it has 13 bytes');
  });

  test('Range: an empty file satisfies a suffix range of a non-zero length (RFC 9110 14.1.1) with no byte for a 206: the whole, empty 200; any other range is a 416', async () => {
    writeFileSync(path.join(root, 'nothing.txt'), '');
    for (const range of ['bytes=-5', 'bytes=0-,-3']) {
      const whole = await get('/assets/nothing.txt', { range });
      assert.equal(whole.status, 200, range);
      assert.equal(whole.headers['content-range'], undefined, range);
      assert.equal(whole.headers['content-length'], '0', range);
    }
    // As FileResponse answers it, If-Range holding or not.
    const stat = fs.statSync(path.join(root, 'nothing.txt'));
    assert.equal((await get('/assets/nothing.txt', { range: 'bytes=-5', 'if-range': stat.mtime.toUTCString() })).status, 200);
    for (const range of ['bytes=0-', 'bytes=-0']) {
      const beyond = await get('/assets/nothing.txt', { range });
      assert.equal(beyond.status, 416, range);
      assert.equal(beyond.headers['content-range'], 'bytes */0', range);
    }
  });

  test('Range: the unit is case-insensitive (RFC 9110 14.1): BYTES= and Bytes= are byte ranges', async () => {
    for (const range of ['BYTES=0-4', 'Bytes=0-4', ' bYtEs=0-4']) {
      const part = await get('/assets/hello.txt', { range });
      assert.equal(part.status, 206, range);
      assert.equal(part.body.toString(), 'hello', range);
      assert.equal(part.headers['content-range'], 'bytes 0-4/13', range);
    }
    const beyond = await get('/assets/hello.txt', { range: 'BYTES=500-600' });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], 'bytes */13');
  });

  test('Range: a ranges-specifier that breaks RFC 9110 14.1.1 syntax is ignored, the whole file sent: never bytes other than those asked for, nor a 416 for no range', async () => {
    // A last position before the first makes the spec invalid (RFC 9110 14.1.1), and the header with it: it was a 416.
    for (const range of ['bytes=1e1-', 'bytes=0x4-8', 'bytes=+1-2', 'bytes=1-2x', 'bytes=1.5-2', 'bytes=0-4;x', 'bytes=', 'bytes=-', 'bytes=--1', 'bytes=0-4,x', 'bytes=5-2', 'bytes=0-4,9-3', 'bytes=100000000000000000001-100000000000000000000']) {
      const whole = await get('/assets/hello.txt', { range });
      assert.equal(whole.status, 200, range);
      assert.equal(whole.body.toString(), 'hello, world\n', range);
      assert.equal(whole.headers['content-range'], undefined, range);
    }
    // What the grammar allows still reads: blanks around list members, an empty member.
    for (const range of ['bytes= 0-4', 'bytes=0-4,', 'bytes=, 0-4 ']) {
      const part = await get('/assets/hello.txt', { range });
      assert.equal(part.status, 206, range);
      assert.equal(part.body.toString(), 'hello', range);
    }
  });

  test("Range as the 'Apache Killer' (CVE-2011-3192) sends it, a thousand overlapping ranges of a 1 MiB file: coalesced into one range; scattered ones ignored for the whole file: never a part per range", async () => {
    const overlapping = `bytes=${Array.from({ length: 1_000 }, (_, i) => `${i}-`).join(',')}`;
    const answer = await get('/assets/big.bin', { range: overlapping });
    // Overlapping ranges are coalesced (RFC 9110 14.2 and 15.3.7.2 let a server do so): one range, the whole file.
    assert.deepEqual([answer.status, answer.headers['content-range']], [206, `bytes 0-${big.length - 1}/${big.length}`]);
    assert.ok(answer.raw.length < big.length + 1024, `${answer.raw.length} bytes sent for a file of ${big.length}`);
    assert.deepEqual(answer.body, big);
    // Ranges that do not coalesce into one are ignored: the whole file, as a 200.
    const scattered = await get('/assets/big.bin', { range: `bytes=${Array.from({ length: 1_000 }, (_, i) => `${i * 1000}-${i * 1000}`).join(',')}` });
    assert.equal(scattered.status, 200);
    assert.equal(scattered.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(scattered.body, big);
  });

  test('a 416 or 404 repeats at most 200 characters of the Range or path the client sent, with an ellipsis', async () => {
    const range = `bytes=${Array.from({ length: 400 }, (_, i) => `${500 + i * 10}-${505 + i * 10}`).join(', ')}`;
    const beyond = await get('/assets/hello.txt', { range });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.body.toString(), `range ${range.slice(0, 200)}… is not satisfiable for /assets/hello.txt: it has 13 bytes`);
    const path = `/assets/${'x'.repeat(4000)}`;
    const missing = await get(path);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), `no file at ${path.slice(0, 200)}…`);
  });

  test('If-Range (RFC 9110 13.1.5): a weak entity-tag never matches, a date only the Last-Modified exactly, and without validators nothing does: the whole file, never a range', async () => {
    const { headers } = await get('/assets/hello.txt');
    const etag = headers.etag!;
    const modified = headers['last-modified']!;
    const later = new Date(Date.parse(modified) + 20_000).toUTCString();
    const cases: [target: string, ifRange: string, range: string, status: number][] = [
      ['/assets/hello.txt', modified, 'bytes=0-4', 206],
      ['/assets/hello.txt', etag, 'bytes=0-4', 200],
      ['/assets/hello.txt', etag.slice(2), 'bytes=0-4', 200],
      ['/assets/hello.txt', later, 'bytes=0-4', 200],
      // A Range that the failed If-Range voids cannot be unsatisfiable; one that holds leaves the 416.
      ['/assets/hello.txt', etag, 'bytes=500-600', 200],
      ['/assets/hello.txt', modified, 'bytes=500-600', 416],
      ['/unvalidated/hello.txt', modified, 'bytes=0-4', 200],
    ];
    for (const [target, ifRange, range, status] of cases) {
      const response = await get(target, { 'if-range': ifRange, range });
      assert.equal(response.status, status, `${target} If-Range ${ifRange}, ${range}`);
      if (status === 416) continue;
      assert.equal(response.body.toString(), status === 206 ? 'hello' : 'hello, world\n', ifRange);
      assert.equal(response.headers['content-range'], status === 206 ? 'bytes 0-4/13' : undefined, ifRange);
    }
  });

  test('If-Match (RFC 9110 13.1.1) compares strongly: the weak ETag sent matches no tag, written with its W/ or without, so only * holds; a 412 before any 304 or 206', async () => {
    const { headers } = await get('/assets/hello.txt');
    const etag = headers.etag!;
    const cases: [ifMatch: string, extra: Record<string, string>, status: number][] = [
      [etag, {}, 412],
      [etag.slice(2), {}, 412],
      [`"other", ${etag}`, {}, 412],
      [etag, { 'if-none-match': etag }, 412],
      [etag, { range: 'bytes=0-4' }, 412],
      ['*', {}, 200],
      ['*', { range: 'bytes=0-4' }, 206],
    ];
    for (const [ifMatch, extra, status] of cases) {
      const response = await get('/assets/hello.txt', { 'if-match': ifMatch, ...extra });
      assert.equal(response.status, status, `If-Match ${ifMatch} ${JSON.stringify(extra)}`);
      if (status === 412) assert.equal(response.body.toString(), '/assets/hello.txt does not match the request\'s preconditions');
    }
  });

  test('streams through the response path: the after-response work sees every byte counted, once the last one is out', async () => {
    outcomes.length = 0;
    const response = await fetch(`${served.server.url}/assets/big.bin`);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), big);
    await app.settle();
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.status, 200);
    assert.equal(outcomes[0]!.completed, true);
    assert.equal(outcomes[0]!.bytesSent, big.length);
  });

  test('a range past 64 KiB streams from its start; one within it is read whole from its start', async () => {
    const middle = await get('/assets/big.bin', { range: 'bytes=100001-300000' });
    assert.equal(middle.status, 206);
    assert.equal(middle.headers['content-range'], `bytes 100001-300000/${big.length}`);
    assert.deepEqual(middle.body, big.subarray(100_001, 300_001));
    const small = await get('/assets/big.bin', { range: 'bytes=70000-70009' });
    assert.deepEqual(small.body, big.subarray(70_000, 70_010));
  });

  test('every file opened is closed: sent, streamed, HEAD, 304, a range, refused as leading out, and a client gone mid-stream', { skip: process.platform !== 'linux' }, async () => {
    const { etag } = (await get('/assets/hello.txt')).headers;
    await get('/assets/big.bin');
    await get('/assets/big.bin', {}, 'HEAD');
    await get('/assets/hello.txt', { 'if-none-match': etag! });
    await get('/assets/big.bin', { range: 'bytes=1-200000' });
    await get('/assets/leak.txt');
    // A client that reads the head and one chunk of the 1 MB file, then goes away.
    await new Promise<void>((resolve) => {
      const request = http.get(`${served.server.url}/assets/big.bin`, (response) => response.once('data', () => request.destroy()));
      request.on('close', resolve);
      request.on('error', () => {});
    });
    await app.settle();
    // Closing is not awaited by the route: a bounded number of turns for it to finish.
    for (let turn = 0; turn < 1000 && openUnder(base).length > 0; turn++) await new Promise(setImmediate);
    assert.deepEqual(openUnder(base), []);
  });

  test('a FIFO in the root is a 404 at once, never opened: it held the request, and a thread of libuv\'s pool, until something wrote to it', { skip: process.platform === 'win32', timeout: 10_000 }, async (t) => {
    const fifo = path.join(root, 'pipe.txt');
    execFileSync('mkfifo', [fifo]);
    t.after(() => unlinkSync(fifo));
    const response = await get('/assets/pipe.txt');
    assert.equal(response.status, 404);
    assert.equal(response.body.toString(), 'no file at /assets/pipe.txt: not a regular file');
  });

  test('directories: index.html for a path ending in "/", a 301 to it (query kept) without the slash, a 404 without an index', async () => {
    const index = await get('/assets/docs/');
    assert.equal(index.status, 200);
    assert.equal(index.body.toString(), '<h1>docs</h1>');
    const moved = await get('/assets/docs?lang=en');
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, '/assets/docs/?lang=en');
    const empty = await get('/assets/empty/');
    assert.equal(empty.status, 404);
    assert.equal(empty.body.toString(), 'no index file in /assets/empty/');
    // A directory path past the 200 characters an error repeats is still named as a directory.
    const deep = await get(`/assets/${'d'.repeat(250)}/`);
    assert.equal(deep.status, 404);
    assert.match(deep.body.toString(), /^no index file in \/assets\/d{192}…$/);
    // Its redirect too long to send once percent-encoded (a query of 6000 '{'): the 404 it stands for, not a 500 (review31 found it).
    const long = await get(`/assets/docs?q=${'{'.repeat(6000)}`);
    assert.equal(long.status, 404);
    assert.equal(long.body.toString(), 'no file at /assets/docs: a directory: the redirect to its slash form would be longer than clients read');
    const off = await get('/v1/files/docs/');
    assert.equal(off.status, 404);
    assert.equal(off.body.toString(), 'no file at /v1/files/docs/: a directory, and index is off');
    assert.equal((await get('/v1/files/hello.txt')).body.toString(), 'hello, world\n');
  });

  test('a file replaced between its description and its opening (a deploy renaming over it) is described again: never the new bytes cut to the old length, under the old validators; replaced every time, a 503', async (t) => {
    const file = path.join(root, 'swap.txt');
    writeFileSync(file, 'old\n');
    const versions = ['the new content\n'];
    const open = fs.open;
    // The rename lands where a deploy's would: after @fastify/send's stat, before the route opens the file (file-body.ts imports node:fs's open).
    fs.open = ((...args: Parameters<typeof fs.open>) => {
      const next = args[0] === file ? versions.shift() : undefined;
      if (next !== undefined) {
        writeFileSync(`${file}.next`, next);
        renameSync(`${file}.next`, file);
      }
      return (open as (...a: unknown[]) => void)(...args);
    }) as typeof fs.open;
    syncBuiltinESMExports();
    t.after(() => {
      fs.open = open;
      syncBuiltinESMExports();
    });
    const replaced = await get('/assets/swap.txt');
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.toString(), 'the new content\n');
    assert.equal(replaced.headers['content-length'], '16');
    assert.equal(replaced.headers.etag, (await get('/assets/swap.txt')).headers.etag);
    versions.push('v2, longer than the first\n', 'v3\n');
    const churning = await get('/assets/swap.txt');
    assert.equal(churning.status, 503);
    assert.equal(churning.headers['retry-after'], '1');
    assert.equal(churning.body.toString(), '/assets/swap.txt changed while it was being sent, twice: try again');
  });

  test('a missing file is a 404; other methods a 405 with Allow', async () => {
    const missing = await get('/assets/nope.txt');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), 'no file at /assets/nope.txt');
    const put = await get('/assets/hello.txt', {}, 'PUT');
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, 'GET, HEAD, OPTIONS');
  });

  describe('bad paths never leave the root', () => {
    const cases: [string, number, string][] = [
      ['/assets/../secret.txt', 403, 'the path "/assets/../secret.txt" climbs out of the static root with ".."'],
      ['/assets/css/../../secret.txt', 403, 'the path "/assets/css/../../secret.txt" climbs out of the static root with ".."'],
      ['/assets/%2e%2e/secret.txt', 403, 'the path "/assets/../secret.txt" climbs out of the static root with ".."'],
      ['/assets/%2E%2E/%2E%2E/secret.txt', 403, 'the path "/assets/../../secret.txt" climbs out of the static root with ".."'],
      ['/assets/..%2fsecret.txt', 400, 'the path "/assets/..%2Fsecret.txt" holds a backslash or an encoded slash, which static files refuse'],
      ['/assets/css%2Fsite.css', 400, 'the path "/assets/css%2Fsite.css" holds a backslash or an encoded slash, which static files refuse'],
      ['/assets/..\\secret.txt', 400, 'the path "/assets/..\\\\secret.txt" holds a backslash or an encoded slash, which static files refuse'],
      ['/assets/..%5csecret.txt', 400, 'the path "/assets/..%5Csecret.txt" holds a backslash or an encoded slash, which static files refuse'],
      ['/assets/hello.txt%00.png', 400, 'the path "/assets/hello.txt%00.png" holds a control character (%00), which no path may'],
      ['/assets/%00', 400, 'the path "/assets/%00" holds a control character (%00), which no path may'],
      ['/assets/leak.txt', 404, 'no file there: it leads out of the static root'],
      ['/assets/outdir/secret.txt', 404, 'no file there: it leads out of the static root'],
      ['/assets/.env', 404, 'no file at /assets/.env'],
      ['/assets/.git/config', 404, 'no file at /assets/.git/config'],
      ['/v1/files/.env', 403, '/v1/files/.env is not served'],
      ['/assets/%zz', 400, 'invalid percent-encoding in path "/assets/%zz"'],
    ];
    for (const [target, status, message] of cases) {
      test(`${target}: ${status}`, async () => {
        const response = await get(target);
        assert.equal(response.status, status);
        assert.equal(response.body.toString(), message);
        assert.ok(!response.body.includes('top secret'));
      });
    }

    test('a symlink that stays inside the root is served', async () => {
      assert.equal((await get('/assets/alias.txt')).body.toString(), 'hello, world\n');
    });

    test('a symlink swapped to lead out after it was served is refused: nothing of the first answer is kept', async () => {
      const link = path.join(root, 'swapped.txt');
      symlinkSync(path.join(root, 'hello.txt'), link);
      assert.equal((await get('/assets/swapped.txt')).body.toString(), 'hello, world\n');
      unlinkSync(link);
      symlinkSync(path.join(base, 'secret.txt'), link);
      const response = await get('/assets/swapped.txt');
      assert.equal(response.status, 404);
      assert.equal(response.body.toString(), 'no file there: it leads out of the static root');
    });
  });

  test('the in-process test client serves the same files', async () => {
    const client = createTestClient(createApp({ routes: [staticFiles('/', { root })] }));
    const response = await client.get('/hello.txt');
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'hello, world\n');
    assert.equal((await client.get('/../secret.txt')).status, 403);
  });

  test('bad options are refused where the route is made', () => {
    assert.throws(() => staticFiles('/assets', { root: path.join(base, 'nope') }), /staticFiles\("\/assets"\): root ".*nope" does not exist/);
    assert.throws(() => staticFiles('/assets', { root: path.join(root, 'hello.txt') }), /root ".*hello.txt" is not a folder/);
    assert.throws(() => staticFiles('/assets', {} as never), /root must be a folder path, got undefined/);
    assert.throws(() => staticFiles('assets', { root }), /staticFiles\(\) prefix must start with "\/", got string "assets"/);
    assert.throws(() => staticFiles('/assets/', { root }), /the prefix must not end with "\/"/);
    assert.throws(() => staticFiles('/assets', { root, maxage: 5 } as never), /unknown option "maxage"; did you mean "maxAge"\?/);
    assert.throws(() => staticFiles('/assets', { root, maxAge: -1 }), /maxAge must be a whole number of milliseconds, got number -1/);
    assert.throws(() => staticFiles('/assets', { root, dotfiles: 'hide' as never }), /dotfiles must be 'ignore', 'deny' or 'allow', got string "hide"/);
    assert.throws(() => staticFiles('/assets', { root, index: '../x.html' }), /index must be a file name/);
    assert.throws(() => staticFiles('/assets', { root, extensions: ['.html'] }), /extensions must be a list of extensions without their dot/);
    assert.throws(() => staticFiles('/assets', { root, etag: 'yes' as never }), /etag must be true or false/);
  });
});

test('a symlink loop is a 404 and a file the server may not read a 403 (as nginx and Go answer), neither logged as the server\'s error; a file asked as a folder says so', async (t) => {
  const { base, root } = makeTree();
  t.after(() => rmSync(base, { recursive: true, force: true }));
  symlinkSync('loop-b', path.join(root, 'loop-a'));
  symlinkSync('loop-a', path.join(root, 'loop-b'));
  writeFileSync(path.join(root, 'locked.txt'), 'locked');
  // Tests run as root, who reads a file of mode 000: its open is refused as the kernel refuses another user's (file-body.ts imports node:fs's open).
  const open = fs.open;
  fs.open = ((...args: Parameters<typeof fs.open>) => {
    if (args[0] !== path.join(root, 'locked.txt')) return (open as (...a: unknown[]) => void)(...args);
    const callback = args.at(-1) as (error: NodeJS.ErrnoException) => void;
    process.nextTick(callback, Object.assign(new Error(`EACCES: permission denied, open '${String(args[0])}'`), { code: 'EACCES', errno: -13, syscall: 'open' }));
  }) as typeof fs.open;
  syncBuiltinESMExports();
  t.after(() => {
    fs.open = open;
    syncBuiltinESMExports();
  });
  const { logger, lines } = memoryLogger();
  const server = await startServer(createApp({ logger, routes: [staticFiles('/s', { root })] }));
  t.after(() => server.close());
  // Each was a 500, logged as an error (the ELOOP of @fastify/send's stat, the EACCES of the route's open).
  const cases = [
    ['/s/loop-a', 404, 'no file at /s/loop-a: its symbolic links go round in a loop'],
    ['/s/loop-a/x.txt', 404, 'no file at /s/loop-a/x.txt: its symbolic links go round in a loop'],
    ['/s/locked.txt', 403, '/s/locked.txt is not served: the server may not read it'],
    // Was "no index file in /s/hello.txt/".
    ['/s/hello.txt/', 404, '/s/hello.txt/ names a file, not a folder: no index file in it'],
  ] as const;
  for (const [target, status, message] of cases) {
    const response = await rawRequest(server, rawGet(target));
    assert.deepEqual([response.status, response.body.toString()], [status, message], target);
  }
  assert.deepEqual(lines.filter((line) => line.level > LEVEL.warn), []);
});
