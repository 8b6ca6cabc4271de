// FileResponse's byte ranges and conditional requests, answered as it is
// sent: cases of pillarjs/send's test/send.js, Starlette's
// tests/test_responses.py and Express's test/res.sendFile.js, by name, then
// what a socket adds: a `curl -r`-like request, a client that leaves mid-range.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { compress, createApp, FileResponse, route, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred, openUnder, served } from '../helpers.js';

const folder = mkdtempSync(path.join(tmpdir(), 'coda-file-ranges-'));
// send's fixture: nums.txt holds 123456789.
const nums = path.join(folder, 'nums.txt');
writeFileSync(nums, '123456789');
const big = Buffer.alloc(1024 * 1024, 'abcdefghij');
const bigFile = path.join(folder, 'big.bin');
writeFileSync(bigFile, big);
process.on('exit', () => rmSync(folder, { recursive: true, force: true }));

const stat = statSync(nums);
const etag = `W/"${stat.size.toString(16)}-${stat.mtime.getTime().toString(16)}"`;
const lastModified = stat.mtime.toUTCString();

/** `make()`'s response to a GET (or `method`) with `headers`, through the test client, and the response made. */
async function ask(make: () => FileResponse, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Headers; text: string; made: FileResponse }> {
  let made: FileResponse | undefined;
  const client = createTestClient(createApp({ routes: [route(['GET', 'HEAD', 'POST'], '/file', () => (made = make()))] }));
  const answer = await client.request(method, '/file', { headers });
  return { status: answer.status, headers: answer.headers, text: answer.body.toString(), made: made! };
}

const numbers = (): FileResponse => new FileResponse(nums);

describe("send's test/send.js, with Range request", () => {
  test('should support byte ranges, should be inclusive, should set Content-Range, should set Content-Length to the # of octets transferred', async () => {
    const whole = await ask(numbers);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    const first = await ask(numbers, { range: 'bytes=0-4' });
    assert.equal(first.status, 206);
    assert.equal(first.text, '12345');
    assert.equal((await ask(numbers, { range: 'bytes=0-0' })).text, '1');
    const middle = await ask(numbers, { range: 'bytes=2-3' });
    assert.equal(middle.headers.get('content-range'), 'bytes 2-3/9');
    assert.equal(middle.headers.get('content-length'), '2');
    assert.equal(middle.text, '34');
    // The 206 keeps the representation's headers (RFC 9110 15.3.7).
    assert.equal(middle.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(middle.headers.get('etag'), etag);
    await middle.made.closed;
  });

  test('should support -n, should support n-, when last-byte-pos of the range is greater than current length: is taken to be equal to one less than the length', async () => {
    assert.equal((await ask(numbers, { range: 'bytes=-3' })).text, '789');
    assert.equal((await ask(numbers, { range: 'bytes=3-' })).text, '456789');
    const past = await ask(numbers, { range: 'bytes=2-50' });
    assert.equal(past.headers.get('content-range'), 'bytes 2-8/9');
    assert.equal(past.headers.get('content-length'), '7');
    // A suffix longer than the file: all of it, as a 206.
    assert.equal((await ask(numbers, { range: 'bytes=-50' })).headers.get('content-range'), 'bytes 0-8/9');
  });

  test('when unsatisfiable: should respond with 416, with Content-Range bytes */size; the file is never opened', async () => {
    for (const range of ['bytes=9-50', 'bytes=-0', 'bytes=20-,30-40']) {
      const { status, headers, text, made } = await ask(numbers, { range });
      assert.equal(status, 416, range);
      assert.equal(headers.get('content-range'), 'bytes */9');
      assert.equal(text, `range ${range} is not satisfiable for /file: it has 9 bytes`);
      await made.closed;
    }
    // An empty file has no byte to give (RFC 9110 14.1.1).
    const empty = await ask(() => new FileResponse(Buffer.alloc(0)), { range: 'bytes=0-' });
    assert.equal(empty.status, 416);
    assert.equal(empty.headers.get('content-range'), 'bytes */0');
  });

  test('an empty file: a suffix range of a non-zero length is satisfiable (RFC 9110 14.1.1) with no byte for a 206, so the whole, empty 200; any other range a 416', async () => {
    const emptyFile = path.join(folder, 'empty.txt');
    writeFileSync(emptyFile, '');
    for (const make of [() => new FileResponse(Buffer.alloc(0)), () => new FileResponse(emptyFile)]) {
      for (const range of ['bytes=-5', 'bytes=-1', 'bytes=0-,-3']) {
        const { status, headers, text, made } = await ask(make, { range });
        assert.equal(status, 200, range);
        assert.equal(headers.get('content-range'), null, range);
        assert.equal(headers.get('content-length'), '0', range);
        assert.equal(text, '');
        await made.closed;
      }
      for (const range of ['bytes=0-', 'bytes=-0', 'bytes=0-0,-0']) {
        const { status, headers } = await ask(make, { range });
        assert.equal(status, 416, range);
        assert.equal(headers.get('content-range'), 'bytes */0', range);
      }
    }
  });

  test('should ignore non-byte ranges; when syntactically invalid: should respond with 200 and the entire contents (RFC 9110 14.2)', async () => {
    for (const range of ['items=0-4', 'asdf', 'bytes=1e1-', 'bytes=5-2', 'bytes=-', 'bytes=0x4-8']) {
      const { status, headers, text } = await ask(numbers, { range });
      assert.equal(status, 200, range);
      assert.equal(headers.get('content-range'), null);
      assert.equal(text, '123456789');
    }
    // The unit in any case (RFC 9110 14.1).
    assert.equal((await ask(numbers, { range: 'BYTES=0-1' })).text, '12');
  });

  test('when multiple ranges: should respond with 200 and the entire contents; should respond with 206 is all ranges can be combined', async () => {
    const apart = await ask(numbers, { range: 'bytes=1-1,3-' });
    assert.equal(apart.status, 200);
    assert.equal(apart.headers.get('content-range'), null);
    assert.equal(apart.text, '123456789');
    const joined = await ask(numbers, { range: 'bytes=1-2,3-5' });
    assert.equal(joined.status, 206);
    assert.equal(joined.headers.get('content-range'), 'bytes 1-5/9');
    assert.equal(joined.text, '23456');
    // Overlapping, repeated and out of order: one range, never more bytes than the file has (no amplification).
    const many = await ask(numbers, { range: `bytes=${Array.from({ length: 500 }, (_, i) => `${i % 5}-${(i % 5) + 3}`).join(',')}` });
    assert.equal(many.status, 206);
    assert.equal(many.text, '12345678');
    // Unsatisfiable ones among satisfiable are dropped (range-parser's answer).
    assert.equal((await ask(numbers, { range: 'bytes=50-60,0-1' })).text, '12');
  });

  test('when if-range present: should respond with parts when modified unchanged; with 200 when etag changed, or weak (strong comparison, RFC 9110 13.1.5)', async () => {
    const same = await ask(numbers, { range: 'bytes=0-0', 'if-range': lastModified });
    assert.equal(same.status, 206);
    assert.equal(same.text, '1');
    for (const ifRange of [etag, '"abc"', 'Wed, 21 Oct 2015 07:28:00 GMT', 'not a date']) {
      const { status, text } = await ask(numbers, { range: 'bytes=0-0', 'if-range': ifRange });
      assert.equal(status, 200, ifRange);
      assert.equal(text, '123456789');
    }
    // An unsatisfiable range whose If-Range fails is the whole file, never a 416.
    assert.equal((await ask(numbers, { range: 'bytes=50-', 'if-range': '"abc"' })).status, 200);
  });

  test('should support disabling accept-ranges: should ignore requested range', async () => {
    const { status, headers, text } = await ask(() => new FileResponse(nums, { acceptRanges: false }), { range: 'bytes=0-0' });
    assert.equal(status, 200);
    assert.equal(headers.get('accept-ranges'), null);
    assert.equal(text, '123456789');
  });
});

describe("send's test/send.js, when request has conditional headers", () => {
  test('should add an ETag and a Last-Modified header field; a view\'s own are kept', async () => {
    const { headers } = await ask(numbers);
    assert.equal(headers.get('etag'), etag);
    assert.equal(headers.get('last-modified'), lastModified);
    const own = await ask(() => new FileResponse(nums, { headers: { etag: '"v7"', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' } }));
    assert.equal(own.headers.get('etag'), '"v7"');
    assert.equal(own.headers.get('last-modified'), 'Mon, 01 Jan 2024 00:00:00 GMT');
    // A view's strong tag is one If-Range matches.
    const ranged = await ask(() => new FileResponse(nums, { headers: { etag: '"v7"' } }), { range: 'bytes=0-1', 'if-range': '"v7"' });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.text, '12');
  });

  test('should respond with 304 when ETag matched, or when unmodified; should remove Content headers with 304; the file is never opened', async () => {
    for (const headers of [{ 'if-none-match': etag }, { 'if-none-match': `"x", ${etag.slice(2)}` }, { 'if-modified-since': lastModified }] as Record<string, string>[]) {
      const answer = await ask(numbers, headers);
      assert.equal(answer.status, 304, JSON.stringify(headers));
      assert.equal(answer.text, '');
      assert.equal(answer.headers.get('etag'), etag);
      assert.equal(answer.headers.get('content-type'), null);
      assert.equal(answer.headers.get('content-length'), null);
      assert.equal(answer.headers.get('accept-ranges'), null);
      assert.equal(answer.headers.get('content-disposition'), null);
      await answer.made.closed;
    }
    // A conditional that does not hold: the 200 (or the range asked).
    assert.equal((await ask(numbers, { 'if-none-match': '"other"' })).status, 200);
    assert.equal((await ask(numbers, { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT', range: 'bytes=0-0' })).status, 206);
  });

  test('should respond with 412 when ETag unmatched (If-Match compares strongly), or when modified (If-Unmodified-Since)', async () => {
    for (const headers of [{ 'if-match': etag }, { 'if-match': '"other"' }, { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' }] as Record<string, string>[]) {
      const answer = await ask(numbers, { ...headers, range: 'bytes=0-0' });
      assert.equal(answer.status, 412, JSON.stringify(headers));
      assert.equal(answer.text, '/file does not match the request\'s preconditions');
      await answer.made.closed;
    }
    assert.equal((await ask(numbers, { 'if-match': '*' })).status, 200);
    assert.equal((await ask(numbers, { 'if-unmodified-since': lastModified })).status, 200);
  });

  test('etag: false and lastModified: false send no validator, and a conditional then has nothing to match', async () => {
    const { status, headers } = await ask(() => new FileResponse(nums, { etag: false, lastModified: false }), { 'if-none-match': '*', 'if-modified-since': lastModified });
    assert.equal(status, 200);
    assert.equal(headers.get('etag'), null);
    assert.equal(headers.get('last-modified'), null);
  });
});

describe("Starlette's and Express's cases", () => {
  test("Starlette's test_file_response_range, test_file_response_range_head_method: a range's bytes, and its headers alone for HEAD, the file never opened", async () => {
    const bytes = await ask(() => new FileResponse(Buffer.from('<file content>')), { range: 'bytes=0-5' });
    assert.equal(bytes.status, 206);
    assert.equal(bytes.text, '<file ');
    assert.equal(bytes.headers.get('content-range'), 'bytes 0-5/14');
    const head = await ask(numbers, { range: 'bytes=0-4' }, 'HEAD');
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-length'), '5');
    assert.equal(head.text, '');
    await head.made.closed;
    if (process.platform === 'linux') assert.deepEqual(openUnder(folder), []);
  });

  test("Starlette's test_file_response_range_ignore_non_bytes, test_file_response_range_invalid, test_file_response_range_must_be_requested: 200", async () => {
    for (const range of ['items=0-100', 'bytes: 0-1000', 'bytes=']) assert.equal((await ask(numbers, { range })).status, 200, range);
  });

  test("Express's res.sendFile(path): with Range: should not overwrite a view's own status (a 404 page sent whole); other methods pass untouched", async () => {
    const page = await ask(() => new FileResponse(nums, { status: 404 }), { range: 'bytes=0-0', 'if-none-match': etag });
    assert.equal(page.status, 404);
    assert.equal(page.text, '123456789');
    const posted = await ask(numbers, { range: 'bytes=0-0', 'if-none-match': etag }, 'POST');
    assert.equal(posted.status, 200);
    assert.equal(posted.text, '123456789');
  });

  test('a status other than 200 is never ranged, so it says no Accept-Ranges (it kept the 200\'s); a 200 to a POST keeps it', async () => {
    const page = await ask(() => new FileResponse(nums, { status: 404 }));
    assert.equal(page.headers.get('accept-ranges'), null);
    const set = await ask(() => Object.assign(new FileResponse(nums), { status: 410 }), { range: 'bytes=0-0' });
    assert.equal(set.status, 410);
    assert.equal(set.headers.get('accept-ranges'), null);
    assert.equal(set.text, '123456789');
    assert.equal((await ask(numbers, {}, 'POST')).headers.get('accept-ranges'), 'bytes');
    assert.equal((await ask(numbers)).headers.get('accept-ranges'), 'bytes');
  });

  test('a Readable (its length unknown) is sent whole, without Accept-Ranges, whatever its Range', async () => {
    const { Readable } = await import('node:stream');
    const { status, headers, text } = await ask(() => new FileResponse(Readable.from([Buffer.from('streamed')])), { range: 'bytes=0-1' });
    assert.equal(status, 200);
    assert.equal(headers.get('accept-ranges'), null);
    assert.equal(text, 'streamed');
  });

  test('a FileResponse returned by a middleware, or built outside any request, answers its Range too; read directly, it is whole', async () => {
    const client = createTestClient(createApp({
      middleware: [{ name: 'files', processRequest: (request) => request.path === '/m' ? new FileResponse(nums) : undefined }],
      routes: [],
    }));
    const answer = await client.get('/m', { headers: { range: 'bytes=1-2' } });
    assert.equal(answer.status, 206);
    assert.equal(answer.body.toString(), '23');
    const built = new FileResponse(nums);
    const chunks: Uint8Array[] = [];
    for await (const chunk of built.stream as AsyncIterable<Uint8Array>) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).toString(), '123456789');
  });

  test('compress() encoding the body drops its Accept-Ranges: the whole file, compressed, not a range of other bytes', async () => {
    const text = path.join(folder, 'long.txt');
    writeFileSync(text, 'a line of text\n'.repeat(500));
    const client = createTestClient(createApp({ middleware: [compress()], routes: [route('GET', '/t', () => new FileResponse(text))] }));
    const gzipped = await client.get('/t', { headers: { range: 'bytes=0-3', 'accept-encoding': 'gzip' } });
    assert.equal(gzipped.status, 200);
    assert.equal(gzipped.headers.get('content-encoding'), 'gzip');
    const plain = await client.get('/t', { headers: { range: 'bytes=0-3' } });
    assert.equal(plain.status, 206);
    assert.equal(plain.body.toString(), 'a li');
  });

  test('options are checked: a misspelt one is named, a wrong type refused', () => {
    assert.throws(() => new FileResponse(nums, { acceptRange: false } as never), { name: 'TypeError', message: /FileResponse: unknown option "acceptRange"; did you mean "acceptRanges"\?/ });
    assert.throws(() => new FileResponse(nums, { etag: 'no' as never }), { name: 'TypeError', message: /FileResponse: etag must be/ });
  });
});

/** A GET with `headers` over a socket, as `curl -r` sends it; `leave` destroys it at its first chunk. */
function get(url: string, headers: Record<string, string>, leave = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (leave) request.destroy();
      });
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('close', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', leave ? () => {} : reject);
  });
}

describe('FileResponse ranges over a real socket', () => {
  test('curl -r 100000-699999: the 206 carries those bytes, the outcome counts them, the file is closed after', { skip: process.platform !== 'linux' }, async (t) => {
    const done = deferred<Outcome>();
    let made: FileResponse | undefined;
    const { url } = await served(t, { routes: [route('GET', '/big', () => (made = new FileResponse(bigFile)).after(({ outcome }) => done.resolve(outcome)))] });
    const { status, headers, body } = await get(`${url}/big`, { range: 'bytes=100000-699999' });
    assert.equal(status, 206);
    assert.equal(headers['content-range'], `bytes 100000-699999/${big.length}`);
    assert.deepEqual(body, big.subarray(100000, 700000));
    const outcome = await done.promise;
    assert.equal(outcome.status, 206);
    assert.equal(outcome.bytesSent, 600000);
    await made!.closed;
    assert.deepEqual(openUnder(folder), []);
  });

  test('a client that leaves mid-range, a 304, a 412 and a 416: the descriptor is closed each time', { skip: process.platform !== 'linux' }, async (t) => {
    const made: FileResponse[] = [];
    const { url } = await served(t, { routes: [route('GET', '/big', () => { const response = new FileResponse(bigFile); made.push(response); return response; })] });
    const tag = (await get(`${url}/big`, {}, true)).headers.etag!;
    await get(`${url}/big`, { range: 'bytes=1000-' }, true);
    assert.equal((await get(`${url}/big`, { 'if-none-match': tag })).status, 304);
    assert.equal((await get(`${url}/big`, { 'if-match': '"other"' })).status, 412);
    const unsatisfiable = await get(`${url}/big`, { range: `bytes=${big.length}-` });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers['content-range'], `bytes */${big.length}`);
    assert.equal(made.length, 5);
    await Promise.all(made.map((response) => response.closed));
    assert.deepEqual(openUnder(folder), []);
  });
});
