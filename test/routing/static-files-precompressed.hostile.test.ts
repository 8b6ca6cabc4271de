// staticFiles({ preCompressed: true }) under hostile input and a hostile
// tree: a name.br that is a folder, a FIFO, a symlink loop or a file the
// server may not read is as if it were not there (name itself is served, never
// a 403, a 500 or a hang); Accept-Encoding values at their limits; paths
// that try to reach the name.br of another folder.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs, { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, staticFiles } from 'coda-http';
import { memoryLogger, serveForBadInput } from '../helpers.js';

const base = mkdtempSync(path.join(tmpdir(), 'coda-precompressed-hostile-'));
const root = path.join(base, 'public');
mkdirSync(path.join(root, 'a'), { recursive: true });
mkdirSync(path.join(root, 'b'));
const text = 'the original text '.repeat(40);
const brotli = brotliCompressSync(`${text} (br)`);
const gzip = gzipSync(`${text} (gz)`);

for (const name of ['folder', 'fifo', 'loop', 'locked', 'both']) writeFileSync(path.join(root, `${name}.txt`), text);
mkdirSync(path.join(root, 'folder.txt.br'));
execFileSync('mkfifo', [path.join(root, 'fifo.txt.br')]);
symlinkSync('loop.txt.br', path.join(root, 'loop.txt.br.other'));
symlinkSync('loop.txt.br.other', path.join(root, 'loop.txt.br'));
writeFileSync(path.join(root, 'locked.txt.br'), brotli);
writeFileSync(path.join(root, 'locked.txt.gz'), gzip);
writeFileSync(path.join(root, 'both.txt.br'), brotli);
// a/x.txt has no x.txt.br of its own; b's is another file's encoding.
writeFileSync(path.join(root, 'a', 'x.txt'), text);
writeFileSync(path.join(root, 'b', 'x.txt'), 'b');
writeFileSync(path.join(root, 'b', 'x.txt.br'), brotliCompressSync('b'));

const { logger, lines } = memoryLogger();
const app = createApp({ logger, routes: [staticFiles('/s', { root, preCompressed: true }), get('/ok', () => new HttpResponse('ok'))] });
const served = serveForBadInput(app, lines);
after(() => rmSync(base, { recursive: true, force: true }));

describe('a name.br that is no file this server can send is passed over for name', () => {
  // Tests run as root, who reads a file of mode 000: its open is refused as the kernel refuses another user's (file-body.ts imports node:fs's open).
  const open = fs.open;
  const locked = [path.join(root, 'locked.txt.br'), path.join(root, 'locked.txt.gz')];
  before(() => {
    fs.open = ((...args: Parameters<typeof fs.open>) => {
      if (!locked.includes(String(args[0]))) return (open as (...a: unknown[]) => void)(...args);
      const callback = args.at(-1) as (error: NodeJS.ErrnoException) => void;
      process.nextTick(callback, Object.assign(new Error(`EACCES: permission denied, open '${String(args[0])}'`), { code: 'EACCES', errno: -13, syscall: 'open' }));
    }) as typeof fs.open;
    syncBuiltinESMExports();
  });
  after(() => {
    fs.open = open;
    syncBuiltinESMExports();
  });

  for (const name of ['folder', 'fifo', 'loop', 'locked']) {
    test(`${name}.txt.br: ${name}.txt is served, whole and unencoded`, async () => {
      const answer = await served.raw(`/s/${name}.txt`, { 'accept-encoding': 'br, gzip' });
      assert.equal(answer.status, 200, answer.body.toString());
      assert.equal(answer.headers['content-encoding'], undefined);
      assert.equal(answer.headers.vary, 'Accept-Encoding');
      assert.equal(answer.body.toString(), text);
    });
  }

  test('an unreadable name.br is passed over by a range and a condition too: they are answered for name', async () => {
    const ranged = await served.raw('/s/locked.txt', { 'accept-encoding': 'br', range: 'bytes=0-3' });
    assert.deepEqual([ranged.status, ranged.headers['content-range'], ranged.body.toString()], [206, `bytes 0-3/${text.length}`, text.slice(0, 4)]);
    const plain = await served.raw('/s/locked.txt');
    const fresh = await served.raw('/s/locked.txt', { 'accept-encoding': 'br', 'if-none-match': plain.headers.etag! });
    assert.deepEqual([fresh.status, fresh.headers.etag], [304, plain.headers.etag]);
  });
});

describe('Accept-Encoding at its limits', () => {
  const cases: [string, string | undefined][] = [
    ['br;q=1e-400', undefined],
    // A broken q-value: the member is ignored (accept-encoding.ts).
    ['br;q=NaN', undefined],
    ['br;q=Infinity', undefined],
    ['br;q=-0, gzip;q=0.5', undefined],
    ['*;q=0, br', 'br'],
    ['br;q=0, *', undefined],
    ['BR;Q=0.5', 'br'],
    ['br;q=0x1', 'br'],
    [`${Array.from({ length: 1500 }, (_, i) => `c${i}`).join(',')},br;q=0.001`, 'br'],
    [`${' ,'.repeat(5000)}br`, 'br'],
    [`br;q=${'0'.repeat(10_000)}1`, 'br'],
  ];
  for (const [accept, encoding] of cases) {
    test(`${JSON.stringify(accept.slice(0, 40))}: ${encoding ?? 'the original'}`, async () => {
      const answer = await served.raw('/s/both.txt', { 'accept-encoding': accept });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-encoding'], encoding);
      assert.deepEqual(answer.body, encoding === 'br' ? brotli : Buffer.from(text));
    });
  }
});

describe("a path that tries to reach another folder's name.br", () => {
  const cases: [string, number][] = [
    ['/s/a/..%2Fb%2Fx.txt', 400],
    ['/s/a%2F..%2Fb/x.txt', 400],
    ['/s/a/%2e%2e/b/x.txt', 403],
    ['/s/a/../b/x.txt', 403],
    ['/s/a%5C..%5Cb%5Cx.txt', 400],
    ['/s/a/x.txt%2F..%2F..%2Fb%2Fx.txt', 400],
  ];
  for (const [target, status] of cases) {
    test(`${target}: ${status}`, async () => {
      const answer = await served.raw(target, { 'accept-encoding': 'br' });
      assert.equal(answer.status, status, answer.body.toString());
      assert.match(answer.body.toString(), /climbs out of the static root|backslash or an encoded slash/);
    });
  }

  test("a/x.txt without an x.txt.br of its own is served as it is, never b's", async () => {
    const answer = await served.raw('/s/a/x.txt', { 'accept-encoding': 'br' });
    assert.deepEqual([answer.status, answer.headers['content-encoding'], answer.body.toString()], [200, undefined, text]);
  });
});
