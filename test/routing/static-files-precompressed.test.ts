// staticFiles({ preCompressed: true }): @fastify/static's preCompressed cases
// (test/static.test.js, by name, over a real socket, the bytes read raw), then
// what Coda adds: conditions and ranges over the compressed file's own
// validators and bytes, a .br asked for by name, compress() leaving it be.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { compress, createApp, staticFiles } from 'coda-http';
import { serveForSuite } from '../helpers.js';

const base = mkdtempSync(path.join(tmpdir(), 'coda-precompressed-'));
const root = path.join(base, 'static-pre-compressed');
process.on('exit', () => rmSync(base, { recursive: true, force: true }));

/** Writes `name` with `text`, and beside it the encodings asked (`.br`, `.gz`) of it; returns the compressed bytes by encoding. */
function write(name: string, text: string, encodings: readonly ('br' | 'gzip')[] = []): Record<string, Buffer> {
  const file = path.join(root, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  const written: Record<string, Buffer> = {};
  for (const encoding of encodings) {
    // Marked, so that a test can tell the compressed file's bytes from ones compressed on the way.
    written[encoding] = encoding === 'br' ? brotliCompressSync(`${text} (br)`) : gzipSync(`${text} (gz)`);
    writeFileSync(`${file}${encoding === 'br' ? '.br' : '.gz'}`, written[encoding]);
  }
  return written;
}

const page = (name: string): string => `<!doctype html><title>${name}</title>${'<p>compressible text</p>'.repeat(100)}`;
const allThree = write('all-three.html', page('all three'), ['br', 'gzip']);
const gzipOnly = write('gzip-only.html', page('gzip only'), ['gzip']);
write('uncompressed.html', page('uncompressed'));
const indexBr = write('index.html', page('index'), ['br']);
const dirIndexBr = write('dir/index.html', page('dir'), ['br']);
const dirIndexGz = write('dir-gz/index.html', page('dir-gz'), ['gzip']);
write('baz.json', '{"baz":"baz"}');
write('sample.jpg', 'not really a jpeg', ['br']);
write('app.js', `console.log(${JSON.stringify('x'.repeat(2000))});`, ['br']);
const big = write('big.txt', 'x'.repeat(200 * 1024), ['br']);
mkdirSync(path.join(root, 'empty'));
writeFileSync(path.join(root, 'direct.txt.br'), brotliCompressSync('asked for by name'));

const etagOf = (file: string): string => {
  const stat = statSync(path.join(root, file));
  return `W/"${stat.size.toString(16)}-${stat.mtime.getTime().toString(16)}"`;
};

describe("@fastify/static's preCompressed cases (test/static.test.js)", () => {
  const app = createApp({
    routes: [
      staticFiles('/static-pre-compressed', { root, preCompressed: true }),
      staticFiles('/alt-index', { root, preCompressed: true, index: ['all-three.html'] }),
      staticFiles('/plain', { root }),
    ],
  });
  const served = serveForSuite(app);
  const get = (target: string, headers: Record<string, string> = {}, method?: string) => served.raw(target, headers, method);
  const GZIP_DEFLATE_BR = { 'accept-encoding': 'gzip, deflate, br' };

  test('will serve pre-compressed files with .br at the highest priority; sends Vary: Accept-Encoding when serving a pre-compressed file', async () => {
    const answer = await get('/static-pre-compressed/all-three.html', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], 'br');
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(answer.headers['content-length'], String(allThree.br!.length));
    assert.equal(answer.headers.etag, etagOf('all-three.html.br'));
    assert.deepEqual(answer.body, allThree.br);
  });

  test('sends Vary: Accept-Encoding when falling back to the uncompressed file; will serve uncompressed files if there are no compressed variants on disk', async () => {
    const answer = await get('/static-pre-compressed/uncompressed.html', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.body.toString(), page('uncompressed'));
  });

  test('does not send Vary: Accept-Encoding when preCompressed is disabled', async () => {
    const answer = await get('/plain/uncompressed.html', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.vary, undefined);
    const encoded = await get('/plain/all-three.html', GZIP_DEFLATE_BR);
    assert.equal(encoded.headers['content-encoding'], undefined);
    assert.equal(encoded.body.toString(), page('all three'));
  });

  test('will serve pre-compressed files and fallback to .gz if .br is not on disk', async () => {
    const answer = await get('/static-pre-compressed/gzip-only.html', GZIP_DEFLATE_BR);
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.equal(answer.headers.etag, etagOf('gzip-only.html.gz'));
    assert.deepEqual(answer.body, gzipOnly.gzip);
  });

  test('will serve pre-compressed files with .gzip if * directive used, and multiple * directives: Coda sends .br (compress()\'s rule, Brotli first on a tie; @fastify/static sends .gz)', async () => {
    for (const accept of ['*', '*, *']) {
      const answer = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': accept });
      assert.equal(answer.headers['content-encoding'], 'br', accept);
      assert.deepEqual(answer.body, allThree.br);
    }
    const gzipFirst = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br;q=0.5, gzip' });
    assert.equal(gzipFirst.headers['content-encoding'], 'gzip', 'a higher q-value wins');
    assert.deepEqual(gzipFirst.body, allThree.gzip);
  });

  test('will negotiate deflate when preCompressed is enabled: Coda serves no .deflate, so the next the client takes (gzip)', async () => {
    const answer = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'deflate;q=1, gzip;q=0.5' });
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.deepEqual(answer.body, allThree.gzip);
  });

  test('will serve uncompressed files the accept-encoding header is missing; q=0 refuses an encoding; identity takes none', async () => {
    for (const headers of [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'br;q=0, gzip;q=0' }, { 'accept-encoding': '*;q=0' }] as Record<string, string>[]) {
      const answer = await get('/static-pre-compressed/all-three.html', headers);
      assert.equal(answer.headers['content-encoding'], undefined, JSON.stringify(headers));
      assert.equal(answer.headers.vary, 'Accept-Encoding');
      assert.equal(answer.body.toString(), page('all three'));
    }
    const noBr = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br;q=0, gzip' });
    assert.equal(noBr.headers['content-encoding'], 'gzip');
  });

  test('will serve precompressed index; will serve precompressed gzip index in subdir', async () => {
    const index = await get('/static-pre-compressed/', GZIP_DEFLATE_BR);
    assert.equal(index.headers['content-encoding'], 'br');
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.deepEqual(index.body, indexBr.br);
    const dir = await get('/static-pre-compressed/dir/', GZIP_DEFLATE_BR);
    assert.deepEqual(dir.body, dirIndexBr.br);
    const dirGz = await get('/static-pre-compressed/dir-gz/', GZIP_DEFLATE_BR);
    assert.equal(dirGz.headers['content-encoding'], 'gzip');
    assert.deepEqual(dirGz.body, dirIndexGz.gzip);
  });

  test('will redirect to preCompressed index without trailing slash (Coda always redirects a folder to its slash form)', async () => {
    const answer = await get('/static-pre-compressed/dir', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 301);
    assert.equal(answer.headers.location, '/static-pre-compressed/dir/');
  });

  test('will serve precompressed index with alternative index option', async () => {
    const answer = await get('/alt-index/', GZIP_DEFLATE_BR);
    assert.equal(answer.headers['content-encoding'], 'br');
    assert.deepEqual(answer.body, allThree.br);
  });

  test('will serve precompressed file without content-type charset', async () => {
    const answer = await get('/static-pre-compressed/sample.jpg', GZIP_DEFLATE_BR);
    assert.equal(answer.headers['content-type'], 'image/jpeg');
    assert.equal(answer.headers['content-encoding'], 'br');
  });

  test('will not redirect but serve a file if preCompressed but no compressed file exists', async () => {
    const answer = await get('/static-pre-compressed/baz.json', { 'accept-encoding': '*' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(answer.body.toString(), '{"baz":"baz"}');
  });

  test('nonexistent index with precompressed option', async () => {
    const answer = await get('/static-pre-compressed/empty/', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 404);
  });

  test('conditions and ranges are the compressed file\'s: its ETag gives the 304 (with Vary, without Content-Encoding), a range is of its bytes, a 416 of its length', async () => {
    const tag = etagOf('all-three.html.br');
    const fresh = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br', 'if-none-match': tag });
    assert.equal(fresh.status, 304);
    assert.equal(fresh.headers.vary, 'Accept-Encoding');
    assert.equal(fresh.headers['content-encoding'], undefined);
    const other = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'gzip', 'if-none-match': tag });
    assert.equal(other.status, 200, 'the .br\'s tag is not the .gz\'s');
    assert.deepEqual(other.body, allThree.gzip);
    const ranged = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br', range: 'bytes=0-9' });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers['content-encoding'], 'br');
    assert.equal(ranged.headers['content-range'], `bytes 0-9/${allThree.br!.length}`);
    assert.deepEqual(ranged.body, allThree.br!.subarray(0, 10));
    const beyond = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br', range: `bytes=${allThree.br!.length}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${allThree.br!.length}`);
    const head = await get('/static-pre-compressed/all-three.html', { 'accept-encoding': 'br' }, 'HEAD');
    assert.deepEqual([head.headers['content-encoding'], head.headers['content-length'], head.body.length], ['br', String(allThree.br!.length), 0]);
  });

  test('a .br asked for by name is its own file: no Content-Encoding, its own type, whatever the client takes', async () => {
    const answer = await get('/static-pre-compressed/direct.txt.br', GZIP_DEFLATE_BR);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(answer.body, brotliCompressSync('asked for by name'));
  });

  test('a compressed file past 64 KiB streams its own bytes', async () => {
    const answer = await get('/static-pre-compressed/big.txt', { 'accept-encoding': 'br' });
    assert.equal(answer.headers['content-encoding'], 'br');
    assert.deepEqual(answer.body, big.br);
  });
});

describe('preCompressed under compress()', () => {
  const app = createApp({ middleware: [compress({ threshold: 0 })], routes: [staticFiles('/s', { root, preCompressed: true })] });
  const served = serveForSuite(app);

  test('compress() leaves a pre-compressed file as it is (one Content-Encoding, its bytes, its length and ETag), and compresses a fallback itself', async () => {
    const answer = await served.raw('/s/app.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(answer.headers['content-encoding'], 'br');
    assert.equal(answer.headerList.filter(([name]) => name === 'content-encoding').length, 1);
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(answer.headers.etag, etagOf('app.js.br'));
    assert.equal(answer.body.length, Number(answer.headers['content-length']));
    const fallback = await served.raw('/s/uncompressed.html', { 'accept-encoding': 'gzip' });
    assert.equal(fallback.headers['content-encoding'], 'gzip');
    assert.equal(fallback.headers.vary, 'Accept-Encoding');
  });
});

test('preCompressed must be a boolean', () => {
  assert.throws(() => staticFiles('/s', { root: tmpdir(), preCompressed: 'yes' as unknown as boolean }), /preCompressed/);
});
