// conditionalGet(): Django's ConditionalGetMiddlewareTest and
// ETagGZipMiddlewareTest (tests/middleware/tests.py) ported, each named, then
// RFC 9110 13.2.2's other cases, hostile conditions, and compress() over a socket.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { compress, conditionalGet, createApp, get, HttpResponse, put, StreamingResponse, type Outcome } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { entityTags } from '../../src/http/preconditions.js';
import { serveForSuite } from '../helpers.js';

const DATE = 'Sat, 12 Feb 2011 17:38:44 GMT';
const EARLIER = 'Sat, 12 Feb 2011 17:35:44 GMT';
const LATER = 'Sat, 12 Feb 2011 17:41:44 GMT';
const text = 'All work and no play makes Jack a dull boy. '.repeat(100);

/** A client for an app whose one route, /, answers `make()` through conditionalGet(). */
function client(make: () => HttpResponse) {
  return createTestClient(createApp({ middleware: [conditionalGet()], routes: [get('/', make), put('/', make)] }));
}

/** The status and ETag of GET / with the request `headers`, for the response `make()` gives. */
async function answer(make: () => HttpResponse, headers: Record<string, string> = {}): Promise<[number, string | null]> {
  const res = await client(make).get('/', { headers });
  return [res.status, res.headers.get('etag')];
}

const page = (headers: Record<string, string> = {}, status = 200) => () => new HttpResponse('content', { status, headers });

describe("Django's ConditionalGetMiddlewareTest, ported", () => {
  test('test_middleware_calculates_etag: a strong tag, the same for the same bytes', async () => {
    const [status, etag] = await answer(page());
    assert.equal(status, 200);
    assert.match(etag!, /^"[\w-]{27}"$/);
    assert.equal((await answer(page()))[1], etag);
    assert.notEqual((await answer(() => new HttpResponse('other')))[1], etag);
  });

  test("test_middleware_wont_overwrite_etag", async () => {
    assert.deepEqual(await answer(page({ etag: 'eggs' })), [200, 'eggs']);
  });

  test('test_no_etag_streaming_response: a stream is never read to be hashed', async () => {
    const res = await client(() => new StreamingResponse((async function* () {
      yield 'content';
    })())).get('/');
    assert.equal(res.headers.get('etag'), null);
    assert.equal(await res.text(), 'content');
  });

  test('test_no_etag_response_empty_content', async () => {
    assert.deepEqual(await answer(() => new HttpResponse()), [200, null]);
    assert.deepEqual(await answer(() => new HttpResponse('')), [200, null]);
  });

  test('test_no_etag_no_store_cache', async () => {
    assert.deepEqual(await answer(page({ 'cache-control': 'No-Cache, No-Store, Max-age=0' })), [200, null]);
  });

  test('test_etag_extended_cache_control: a directive that merely contains no-store is not no-store', async () => {
    assert.notEqual((await answer(page({ 'cache-control': 'my-directive="my-no-store"' })))[1], null);
  });

  test('test_if_none_match_and_no_etag / test_no_if_none_match_and_etag / test_if_none_match_and_different_etag: 200', async () => {
    assert.equal((await answer(page(), { 'if-none-match': 'spam' }))[0], 200);
    assert.equal((await answer(page({ etag: 'eggs' })))[0], 200);
    assert.equal((await answer(page({ etag: 'eggs' }), { 'if-none-match': 'spam' }))[0], 200);
  });

  test('test_if_none_match_and_same_etag: 304', async () => {
    assert.deepEqual(await answer(page({ etag: '"spam"' }), { 'if-none-match': '"spam"' }), [304, '"spam"']);
  });

  test('test_if_none_match_and_redirect / test_if_none_match_and_client_error: only a 2xx becomes a 304', async () => {
    assert.equal((await answer(page({ etag: '"spam"', location: '/' }, 301), { 'if-none-match': '"spam"' }))[0], 301);
    assert.equal((await answer(page({ etag: '"spam"' }, 400), { 'if-none-match': '"spam"' }))[0], 400);
  });

  test('test_if_modified_since_and_no_last_modified / test_no_if_modified_since_and_last_modified: 200', async () => {
    assert.equal((await answer(page(), { 'if-modified-since': DATE }))[0], 200);
    assert.equal((await answer(page({ 'last-modified': DATE })))[0], 200);
  });

  test('test_if_modified_since_and_same_last_modified / …_in_the_past: 304; …_in_the_future: 200', async () => {
    const modified = (lastModified: string) => answer(() => new HttpResponse(null, { headers: { 'last-modified': lastModified } }), { 'if-modified-since': DATE });
    assert.equal((await modified(DATE))[0], 304);
    assert.equal((await modified(EARLIER))[0], 304);
    assert.equal((await modified(LATER))[0], 200);
  });

  test('test_if_modified_since_and_redirect / test_if_modified_since_and_client_error', async () => {
    assert.equal((await answer(page({ 'last-modified': EARLIER, location: '/' }, 301), { 'if-modified-since': DATE }))[0], 301);
    assert.equal((await answer(page({ 'last-modified': EARLIER }, 400), { 'if-modified-since': DATE }))[0], 400);
  });

  test('test_not_modified_headers: the 304 keeps the headers RFC 9110 15.4.5 names, Last-Modified and the cookies, and nothing else', async () => {
    const kept = {
      date: EARLIER, 'last-modified': EARLIER, expires: 'Sun, 13 Feb 2011 17:35:44 GMT', vary: 'Cookie',
      'cache-control': 'public', 'content-location': '/alt', etag: '"spam"',
    };
    const res = await client(() => {
      const response = new HttpResponse('content', { headers: { ...kept, 'content-language': 'en', 'set-cookie': 'a=1' } });
      return response.setCookie('key', 'value');
    }).get('/', { headers: { 'if-none-match': '"spam"' } });
    assert.equal(res.status, 304);
    for (const [name, value] of Object.entries(kept)) assert.equal(res.headers.get(name), value, name);
    assert.deepEqual(res.headers.getSetCookie().map((cookie) => cookie.split(';')[0]), ['a=1', 'key=value']);
    for (const name of ['content-language', 'content-type', 'content-length']) assert.equal(res.headers.get(name), null, name);
    assert.equal(res.body.length, 0);
  });

  test("test_no_unsafe: a PUT's If-Match is not this middleware's to answer", async () => {
    const res = await client(page()).put('/', { headers: { 'if-match': '"nothing"' } });
    assert.deepEqual([res.status, res.headers.get('etag')], [200, null]);
  });

  test('test_no_head, on purpose otherwise: a HEAD gets the tag its GET gets (Coda runs the GET view and drops the body), and its 304', async () => {
    const app = client(page());
    const etag = (await app.get('/')).headers.get('etag')!;
    const head = await app.request('HEAD', '/');
    assert.deepEqual([head.status, head.headers.get('etag')], [200, etag]);
    assert.equal((await app.request('HEAD', '/', { headers: { 'if-none-match': etag } })).status, 304);
  });
});

describe('RFC 9110 13.2.2, beyond Django', () => {
  const tagged = page({ etag: '"v1"', 'last-modified': DATE });

  test('If-Match: a strong match or * holds; a weak tag, another tag, or a list without ours is a 412 naming the path', async () => {
    assert.equal((await answer(tagged, { 'if-match': '"v0", "v1"' }))[0], 200);
    assert.equal((await answer(tagged, { 'if-match': '*' }))[0], 200);
    for (const ifMatch of ['W/"v1"', '"v2"', '"v0", "v2"']) assert.equal((await answer(tagged, { 'if-match': ifMatch }))[0], 412, ifMatch);
    const res = await client(tagged).get('/', { headers: { 'if-match': '"v2"' } });
    assert.equal(await res.text(), "/ does not match the request's preconditions");
  });

  test('If-Unmodified-Since: older than Last-Modified is a 412; not older, or beside an If-Match, or no date, it is ignored', async () => {
    assert.equal((await answer(tagged, { 'if-unmodified-since': EARLIER }))[0], 412);
    assert.equal((await answer(tagged, { 'if-unmodified-since': DATE }))[0], 200);
    assert.equal((await answer(tagged, { 'if-unmodified-since': EARLIER, 'if-match': '"v1"' }))[0], 200);
    assert.equal((await answer(page(), { 'if-unmodified-since': EARLIER }))[0], 200);
  });

  test('If-None-Match: weak comparison, lists and * give a 304; beside it, If-Modified-Since is ignored', async () => {
    for (const ifNoneMatch of ['W/"v1"', '"v0", W/"v1"', '*']) assert.equal((await answer(tagged, { 'if-none-match': ifNoneMatch }))[0], 304, ifNoneMatch);
    assert.equal((await answer(page({ etag: 'W/"v1"' }), { 'if-none-match': '"v1"' }))[0], 304);
    assert.equal((await answer(tagged, { 'if-none-match': '"v0"', 'if-modified-since': DATE }))[0], 200);
  });

  test('etag: false makes no tag, and still compares the validators the response has', async () => {
    const app = createTestClient(createApp({ middleware: [conditionalGet({ etag: false })], routes: [get('/', page({ 'last-modified': DATE }))] }));
    const res = await app.get('/');
    assert.deepEqual([res.status, res.headers.get('etag')], [200, null]);
    assert.equal((await app.get('/', { headers: { 'if-modified-since': DATE } })).status, 304);
  });

  test('a response shared by many requests is never changed: its tag goes on a copy', async () => {
    const shared = new HttpResponse('shared');
    const res = await client(() => shared).get('/');
    assert.notEqual(res.headers.get('etag'), null);
    assert.equal(shared.headers.get('etag'), null);
  });

  test('a 304 is what after() tasks and the outcome see', async () => {
    const seen: [number, number][] = [];
    const app = createTestClient(createApp({
      middleware: [{ afterResponse(_request, response, outcome: Outcome) { seen.push([response.status, outcome.status]); } }, conditionalGet()],
      routes: [get('/', () => new HttpResponse('content', { headers: { etag: '"v1"' } }).after(({ response, outcome }) => {
        seen.push([response.status, outcome.status]);
      }))],
    }));
    assert.equal((await app.get('/', { headers: { 'if-none-match': '"v1"' } })).status, 304);
    await app.settle();
    assert.deepEqual(seen, [[304, 304], [304, 304]]);
    // The hook's run and the task's, neither failed.
    assert.deepEqual(app.tasks.map(({ state }) => state), ['completed', 'completed']);
  });

  test('bad options are refused, naming them', () => {
    assert.throws(() => conditionalGet({ etags: true } as never), { message: 'conditionalGet(): unknown option "etags"; did you mean "etag"?' });
    assert.throws(() => conditionalGet({ etag: 'yes' } as never), { message: 'conditionalGet(): etag must be true or false, got string "yes"' });
    assert.throws(() => conditionalGet(null as never), /conditionalGet\(\) takes an options object/);
  });
});

describe('hostile conditions', () => {
  const tagged = page({ etag: '"v1"', 'last-modified': DATE });

  test('a huge If-None-Match list: as long as a server takes (16 KiB), ours last, a 304; a megabyte read in linear time', async () => {
    assert.equal((await answer(tagged, { 'if-none-match': `${'"x", '.repeat(3_000)}W/"v1"` }))[0], 304);
    const started = performance.now();
    assert.equal(entityTags(`${'"x", '.repeat(200_000)}W/"v1"`).length, 200_001);
    assert.deepEqual(entityTags(`${' '.repeat(1_000_000)}x`), []);
    assert.deepEqual(entityTags(`"${' '.repeat(1_000_000)}`), []);
    assert.ok(performance.now() - started < 10_000, 'a quadratic reading takes minutes here');
  });

  test('garbage dates are ignored: no 304, no 412', async () => {
    for (const date of ['yesterday', '3100', '2011-02-12T17:38:44Z', 'Sat, 31 Feb 2011 17:38:44 GMT', `${DATE}\u00ff`, '']) {
      assert.equal((await answer(tagged, { 'if-modified-since': date }))[0], 200, date);
      assert.equal((await answer(tagged, { 'if-unmodified-since': date }))[0], 200, date);
    }
    assert.equal((await answer(page({ 'last-modified': 'garbage' }), { 'if-modified-since': DATE }))[0], 200);
  });

  test('a tag with spaces is no entity-tag and matches nothing; a comma inside quotes is part of the tag', async () => {
    assert.equal((await answer(page({ etag: '"a b"' }), { 'if-none-match': '"a b"' }))[0], 200);
    assert.equal((await answer(tagged, { 'if-none-match': '" v1", "v 1", v1' }))[0], 200);
    assert.equal((await answer(tagged, { 'if-match': '"v1 "' }))[0], 412);
    assert.equal((await answer(page({ etag: '"a,b"' }), { 'if-none-match': ' "c" ,, "a,b" ' }))[0], 304);
    assert.equal((await answer(page({ etag: '"a,b"' }), { 'if-match': '"a,b"' }))[0], 200);
  });
});

describe('with compress(), over a socket', () => {
  // compress() first (outside): the tag is the identity bytes', and compressed it goes out weak.
  const { raw } = serveForSuite(createApp({ middleware: [compress(), conditionalGet()], routes: [get('/', () => new HttpResponse(text))] }));

  test("ETagGZipMiddlewareTest's test_strong_etag_modified and test_etag_match: the weak tag compress() sends back gets a 304, with that tag and Vary", async () => {
    const plain = await raw('/');
    const gzipped = await raw('/', { 'accept-encoding': 'gzip' });
    assert.equal(zlib.gunzipSync(gzipped.body).toString(), text);
    assert.equal(gzipped.headers.etag, `W/${plain.headers.etag}`);
    const again = await raw('/', { 'accept-encoding': 'gzip', 'if-none-match': gzipped.headers.etag! });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.vary, 'Accept-Encoding');
    // The 200's validator (RFC 9110 15.4.5): sent strong, a cache holding the weak 200 found nothing to update.
    assert.equal(again.headers.etag, gzipped.headers.etag);
    assert.equal(again.headers['content-type'], undefined);
    assert.equal((await raw('/', { 'if-none-match': gzipped.headers.etag! })).status, 304);
  });
});
