// Range and its conditions under hostile input, for staticFiles() and
// FileResponse alike (byte-ranges.ts, preconditions.ts), over a real socket:
// each is a 206 of the right bytes, the whole 200, a 416 naming the range, or
// node:http's 431 for a head past 16 KiB; and a file truncated while a range
// of it is sent is cut short, never padded with other bytes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createApp, FileResponse, get, HttpResponse, route, staticFiles } from 'coda-http';
import { connect, memoryLogger, serveForBadInput } from '../helpers.js';

const base = mkdtempSync(path.join(tmpdir(), 'coda-ranges-hostile-'));
after(() => rmSync(base, { recursive: true, force: true }));
const root = path.join(base, 'public');
mkdirSync(root);
const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
writeFileSync(path.join(root, 'a.bin'), bytes);

const { logger, lines, logged } = memoryLogger();
const app = createApp({
  logger,
  routes: [
    staticFiles('/s', { root }),
    route(['GET', 'HEAD'], '/f', () => new FileResponse(path.join(root, 'a.bin'))),
    get('/ok', () => new HttpResponse('ok')),
  ],
});
const served = serveForBadInput(app, lines);

/** Range values and what each answers: a range of the file, 'whole' (the 200) or 416. */
const cases: [string, [number, number] | 'whole' | 416][] = [
  ['bytes=900-999,0-100,50-950', [0, 999]],
  [`bytes=${Array.from({ length: 1500 }, (_, i) => `${i % 10}-${(i % 10) + 1}`).join(',')}`, [0, 10]],
  [`bytes=${Array.from({ length: 1500 }, (_, i) => `${i * 2}-${i * 2}`).join(',')}`, 'whole'],
  ['bytes=0-0,-1', 'whole'],
  ['bytes=0-99999999999999999999999', [0, 999]],
  ['bytes=-99999999999999999999999', [0, 999]],
  ['bytes=99999999999999999999999-', 416],
  ['bytes=9007199254740993-9007199254740994', 416],
  ['bytes=000010-000020', [10, 20]],
  ['bytes=-0,-0', 416],
  ['  bytes=1-2 ', [1, 2]],
  ['Bytes=1-2', [1, 2]],
  ['bytes=1 - 2', 'whole'],
  ['bytes=-5-6', 'whole'],
  ['bytes=2-1', 'whole'],
  ['bytes=1-2;x', 'whole'],
  [`bytes=${','.repeat(8000)}1-2`, [1, 2]],
  [`bytes=${'9'.repeat(8000)}-`, 416],
];

describe('Range values at their limits', () => {
  for (const target of ['/s/a.bin', '/f']) {
    for (const [range, expected] of cases) {
      test(`${target} ${JSON.stringify(range.slice(0, 48))}: ${JSON.stringify(expected)}`, async () => {
        const answer = await served.raw(target, { range });
        if (expected === 'whole') {
          assert.deepEqual([answer.status, answer.body], [200, bytes]);
        } else if (expected === 416) {
          assert.deepEqual([answer.status, answer.headers['content-range']], [416, 'bytes */1000']);
          assert.match(answer.body.toString(), /^range .* is not satisfiable for \/(s\/a\.bin|f): it has 1000 bytes$/);
        } else {
          assert.deepEqual([answer.status, answer.headers['content-range']], [206, `bytes ${expected[0]}-${expected[1]}/1000`]);
          assert.deepEqual(answer.body, bytes.subarray(expected[0], expected[1] + 1));
        }
      });
    }
  }

  test('a HEAD with a Range is the 206\'s head, without a body', async () => {
    for (const target of ['/s/a.bin', '/f']) {
      const answer = await served.raw(target, { range: 'bytes=5-9' }, 'HEAD');
      assert.deepEqual([answer.status, answer.headers['content-range'], answer.headers['content-length'], answer.body.length], [206, 'bytes 5-9/1000', '5', 0]);
    }
  });

  test('If-Range with a weak tag, a date in another format or garbage is the whole 200; a head past 16 KiB (thousands of If-None-Match tags) is the 431', async () => {
    for (const ifRange of ['W/"x"', 'Thursday, 01-Jan-70 00:00:00 GMT', '2026-01-01T00:00:00Z', 'garbage']) {
      const answer = await served.raw('/s/a.bin', { range: 'bytes=1-2', 'if-range': ifRange });
      assert.deepEqual([answer.status, answer.body.length], [200, 1000], ifRange);
    }
    const tags = Array.from({ length: 3000 }, (_, i) => `"t${i}"`).join(', ');
    const answer = await served.raw('/f', { 'if-none-match': tags });
    assert.equal(answer.status, 431);
    const fewer = await served.raw('/f', { 'if-match': Array.from({ length: 1500 }, (_, i) => `"t${i}"`).join(',') });
    assert.deepEqual([fewer.status, fewer.body.toString()], [412, "/f does not match the request's preconditions"]);
  });
});

describe('a file truncated while a range of it is sent', () => {
  const big = Buffer.from(Array.from({ length: 4_000_000 }, (_, i) => i % 251));

  for (const target of ['/s/a.bin', '/f']) {
    test(`${target}: the response is cut short, each byte sent the file's, and the connection closed`, async () => {
      writeFileSync(path.join(root, 'a.bin'), big);
      const socket = await connect(served.server);
      const chunks: Buffer[] = [];
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.once('data', () => truncateSync(path.join(root, 'a.bin'), 1000));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      // Kept alive: only the server's close ends this read.
      socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-3999999\r\n\r\n`);
      await closed;
      writeFileSync(path.join(root, 'a.bin'), bytes);
      const raw = Buffer.concat(chunks);
      const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
      assert.match(raw.toString('latin1', 0, 200), /^HTTP\/1\.1 206 /);
      assert.ok(body.length < 3_999_990, `${body.length} bytes`);
      assert.deepEqual(body, big.subarray(10, 10 + body.length));
      // The server's trouble, not the client's: logged as an error, which the suite's check of bad input then leaves aside.
      const line = await logged((entry) => entry.level === 50 && entry.path === target);
      assert.match(line.msg!, /declared Content-Length 3999990 but its stream .* ended after \d+ bytes; connection closed/);
      lines.splice(lines.indexOf(line), 1);
    });
  }
});
