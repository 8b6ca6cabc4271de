// staticFiles() and FileResponse answer the same request by one rule each:
// the same 416 and 412 (one message, one error class with its code), the
// same Content-Type for the same file name (file-type.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createApp, FileResponse, get, PreconditionFailed, RangeNotSatisfiable, staticFiles } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const root = mkdtempSync(path.join(tmpdir(), 'coda-file-answers-'));
const NAMES = ['hello.txt', 'app.js', 'mod.mjs', 'data.json', 'page.html', 'logo.svg', 'photo.jpg', 'archive.tar.gz', 'bundle.js.br', 'README', 'blob.nosuchtype'];
for (const name of NAMES) writeFileSync(path.join(root, name), 'nine byte');
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/** One app: each file under `/static/` by staticFiles(), and under `/view/` by a view's FileResponse. */
function client() {
  return createTestClient(createApp({
    routes: [
      staticFiles('/static', { root }),
      get('/view/:name', (request) => new FileResponse(path.join(root, path.basename(request.params.name!)))),
    ],
  }));
}

test('a Range none of whose ranges is satisfiable: the same 416, its message and Content-Range, from staticFiles() and FileResponse (they differed: "…: it has 9 bytes" from FileResponse only)', async () => {
  await using http = client();
  const answers = await Promise.all(['/static/hello.txt', '/view/hello.txt'].map((url) => http.get(url, { headers: { range: 'bytes=100-' } })));
  for (const answer of answers) {
    assert.equal(answer.status, 416);
    assert.equal(answer.headers.get('content-range'), 'bytes */9');
  }
  assert.equal(answers[0]!.body.toString(), 'range bytes=100- is not satisfiable for /static/hello.txt: it has 9 bytes');
  assert.equal(answers[1]!.body.toString(), 'range bytes=100- is not satisfiable for /view/hello.txt: it has 9 bytes');
});

test('a failed If-Match: the same 412 and message from staticFiles() and FileResponse', async () => {
  await using http = client();
  for (const url of ['/static/hello.txt', '/view/hello.txt']) {
    const answer = await http.get(url, { headers: { 'if-match': '"nothing"' } });
    assert.equal(answer.status, 412);
    assert.equal(answer.body.toString(), `${url} does not match the request's preconditions`);
  }
});

test('the 412 and 416 are errors of the catalogue, with codes of their own (they were HttpErrors, CODA_HTTP_ERROR)', () => {
  assert.equal(new PreconditionFailed().code, 'CODA_PRECONDITION_FAILED');
  assert.equal(new PreconditionFailed().message, 'Precondition Failed');
  const range = new RangeNotSatisfiable(9);
  assert.deepEqual([range.code, range.status, range.headers['content-range'], range.message], ['CODA_RANGE_NOT_SATISFIABLE', 416, 'bytes */9', 'Range Not Satisfiable']);
  assert.throws(() => new RangeNotSatisfiable(-1), /RangeNotSatisfiable takes the representation's size in bytes first, got number -1/);
});

test('one typing: staticFiles() and FileResponse send the same Content-Type for every name (text/javascript, charset=utf-8 on text), for a GET, a HEAD and a 206', async () => {
  await using http = client();
  const expected: Record<string, string> = {
    'hello.txt': 'text/plain; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'mod.mjs': 'text/javascript; charset=utf-8',
    'data.json': 'application/json; charset=utf-8', 'page.html': 'text/html; charset=utf-8', 'logo.svg': 'image/svg+xml',
    'photo.jpg': 'image/jpeg', 'archive.tar.gz': 'application/gzip', 'bundle.js.br': 'application/octet-stream',
    README: 'application/octet-stream', 'blob.nosuchtype': 'application/octet-stream',
  };
  for (const name of NAMES) {
    for (const base of ['/static/', '/view/']) {
      const got = await Promise.all([http.get(base + name), http.head(base + name), http.get(base + name, { headers: { range: 'bytes=0-3' } })]);
      assert.deepEqual(got.map((answer) => [answer.status, answer.headers.get('content-type')]), [[200, expected[name]], [200, expected[name]], [206, expected[name]]], base + name);
    }
  }
});

test('the same ETag from staticFiles() and FileResponse for a file modified at a fraction of a millisecond past .5 (FileResponse cut the time where @fastify/send rounds it, Stats.mtime\'s way)', async () => {
  const file = path.join(root, 'fraction.txt');
  writeFileSync(file, 'fraction');
  // 0.7 ms past the second: mtimeMs ends in .7, which Stats.mtime rounds up and Math.trunc cut down.
  utimesSync(file, 1_700_000_000.0007, 1_700_000_000.0007);
  await using http = client();
  const [fromStatic, fromView] = await Promise.all([http.get('/static/fraction.txt'), http.get('/view/fraction.txt')]);
  assert.equal(fromView.headers.get('etag'), fromStatic.headers.get('etag'));
  assert.equal(fromStatic.headers.get('etag'), `W/"8-${(1_700_000_000_001).toString(16)}"`);
});
