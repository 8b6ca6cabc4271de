// staticFiles({ preCompressed: true }) at its edges: a compressed file that a
// symlink leads out of the root is as if it were not there (the original is
// served), and the answers that are errors carry Vary: Accept-Encoding too,
// since which file they were answered for depends on it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { createApp, RangeNotSatisfiable, staticFiles } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { serveForSuite } from '../helpers.js';

const base = mkdtempSync(path.join(tmpdir(), 'coda-precompressed-edges-'));
const root = path.join(base, 'public');
const outside = path.join(base, 'outside');
process.on('exit', () => rmSync(base, { recursive: true, force: true }));
mkdirSync(root);
mkdirSync(outside);

const text = 'served text '.repeat(50);
writeFileSync(path.join(root, 'page.txt'), text);
writeFileSync(path.join(outside, 'secret.br'), brotliCompressSync('a secret outside the root'));
writeFileSync(path.join(outside, 'secret.gz'), gzipSync('a secret outside the root'));
symlinkSync(path.join(outside, 'secret.br'), path.join(root, 'page.txt.br'));

writeFileSync(path.join(root, 'mixed.txt'), text);
symlinkSync(path.join(outside, 'secret.br'), path.join(root, 'mixed.txt.br'));
const mixedGz = gzipSync(`${text} (gz)`);
writeFileSync(path.join(root, 'mixed.txt.gz'), mixedGz);

writeFileSync(path.join(root, 'both.txt'), text);
const bothBr = brotliCompressSync(`${text} (br)`);
writeFileSync(path.join(root, 'both.txt.br'), bothBr);

describe('staticFiles({ preCompressed: true }) at its edges', () => {
  const app = createApp({ routes: [staticFiles('/s', { root, preCompressed: true })] });
  const served = serveForSuite(app);

  test('a name.br that a symlink leads out of the root is passed over: name itself is served, as if there were no name.br', async () => {
    const answer = await served.raw('/s/page.txt', { 'accept-encoding': 'br, gzip' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], undefined);
    assert.equal(answer.headers.vary, 'Accept-Encoding');
    assert.equal(answer.body.toString(), text);
  });

  test('a name.br leading out of the root is passed over for the next encoding the client takes, a name.gz inside it', async () => {
    const answer = await served.raw('/s/mixed.txt', { 'accept-encoding': 'br, gzip' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-encoding'], 'gzip');
    assert.deepEqual(answer.body, mixedGz);
  });

  test("a condition is never answered from a name.br outside the root: its ETag gives no 304, and If-Match fails as against name's", async () => {
    const stat = statSync(path.join(outside, 'secret.br'));
    const tag = `W/"${stat.size.toString(16)}-${stat.mtime.getTime().toString(16)}"`;
    const fresh = await served.raw('/s/page.txt', { 'accept-encoding': 'br', 'if-none-match': tag });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.toString(), text);
    const matched = await served.raw('/s/page.txt', { 'accept-encoding': 'br', 'if-match': tag });
    assert.equal(matched.status, 412);
  });

  test('a 416 carries Vary: Accept-Encoding: the length it was refused for is the compressed file\'s', async () => {
    const beyond = await served.raw('/s/both.txt', { 'accept-encoding': 'br', range: `bytes=${bothBr.length}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${bothBr.length}`);
    assert.equal(beyond.headers.vary, 'Accept-Encoding');
    // Satisfiable on the original, longer: without Vary a cache would give this client the 416 above.
    const whole = await served.raw('/s/both.txt', { range: `bytes=${bothBr.length}-` });
    assert.equal(whole.status, 206);
  });

  test('a 412 and a 404 carry Vary: Accept-Encoding too, as every answer of the route does', async () => {
    const failed = await served.raw('/s/both.txt', { 'accept-encoding': 'br', 'if-match': '"another"' });
    assert.equal(failed.status, 412);
    assert.equal(failed.headers.vary, 'Accept-Encoding');
    const missing = await served.raw('/s/missing.txt', { 'accept-encoding': 'br' });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.vary, 'Accept-Encoding');
  });

  test('the 416 given Vary is still a RangeNotSatisfiable, its code, message and Content-Range its own', async () => {
    await using client = createTestClient(app);
    const answer = await client.get('/s/both.txt', { headers: { 'accept-encoding': 'br', range: `bytes=${bothBr.length}-` } });
    assert.ok(answer.error instanceof RangeNotSatisfiable);
    assert.equal(answer.error.code, 'CODA_RANGE_NOT_SATISFIABLE');
    assert.match(answer.error.message, /is not satisfiable for \/s\/both\.txt/);
    assert.deepEqual(answer.error.headers, { 'content-range': `bytes */${bothBr.length}`, vary: 'Accept-Encoding' });
  });

  test('the 416 given Vary keeps the stack of where it was thrown, for the logs and debug pages', async () => {
    await using client = createTestClient(app);
    const answer = await client.get('/s/both.txt', { headers: { 'accept-encoding': 'br', range: `bytes=${bothBr.length}-` } });
    assert.ok(answer.error instanceof RangeNotSatisfiable);
    assert.match(String(answer.error.stack), /^RangeNotSatisfiable: range bytes=\d+- is not satisfiable for \/s\/both\.txt[^]*\n\s+at rangeAnswer /);
  });
});
