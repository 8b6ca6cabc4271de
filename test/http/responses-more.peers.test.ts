// More of Django's (tests/httpwrappers/tests.py, tests/responses/tests.py and
// test_cookie.py) and Starlette's (tests/test_responses.py) response cases,
// beyond responses.peers.test.ts: each test names the case it ports, and says
// where Coda differs on purpose (docs/web.md "Responses, as the peers test them").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, type CookieOptions, JsonResponse, redirect, StreamingResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger, serveForSuite } from '../helpers.js';

const EXPIRES = new Date(Date.UTC(2037, 0, 22, 12, 0, 10));

describe('responses, more of the peers\' cases', () => {
  const { logger } = memoryLogger();
  const app = createApp({
    logger,
    routes: [
      get('/headers', () => {
        const response = new HttpResponse('hello, world', { headers: { 'x-header-1': '123', 'X-Header-2': '456' } });
        response.headers.set('x-header-2', '789');
        response.headers.set('Key', 'café');
        response.headers.append('x-multi', 'a');
        response.headers.append('X-Multi', 'b');
        return response;
      }),
      get('/status/:code', (request) => new HttpResponse(null, { status: Number(request.params['code']) })),
      get('/mixed', () => new StreamingResponse((async function* () {
        yield 'hello';
        yield 'café';
        yield new Uint8Array([0xc0]);
        yield Buffer.from([0xf5]);
      })())),
      get('/array-buffer', () => new StreamingResponse((async function* () {
        yield new ArrayBuffer(2) as never;
      })())),
      get('/known-size', () => new StreamingResponse((async function* () {
        yield 'hello';
        yield 'world';
      })(), { headers: { 'content-length': '10' } })),
      get('/custom-iterator', () => {
        let called = 0;
        const iterator: AsyncIterableIterator<string> = {
          [Symbol.asyncIterator]() { return this; },
          async next() { return called === 5 ? { done: true, value: undefined } : { done: false, value: String(++called) }; },
        };
        return new StreamingResponse(iterator, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      }),
      get('/json-head', () => new JsonResponse({ key: 'łóżko' })),
      get('/empty-204', () => new HttpResponse('', { status: 204 })),
      get('/text-304', () => new HttpResponse('stale', { status: 304, headers: { etag: '"v1"' } })),
      get('/set-cookie', () => new HttpResponse('Hello, world!').setCookie('mycookie', 'myvalue', {
        maxAge: 10, expires: EXPIRES, path: '/', domain: 'localhost', secure: true, httpOnly: true, sameSite: 'none', partitioned: true,
      })),
      get('/toggle-cookie', (request) => request.cookies.has('mycookie')
        ? new HttpResponse('deleted').deleteCookie('mycookie')
        : new HttpResponse('set').setCookie('mycookie', 'myvalue')),
      get('/awkward-cookie', () => new HttpResponse('ok').setCookie('test', 'An,awkward;value').setCookie('unicode', '清風 a b')),
      get('/echo-cookies', (request) => new JsonResponse(Object.fromEntries(request.cookies))),
      get('/redirect', () => redirect('/')),
      get('/', () => new HttpResponse('hello, world')),
      get('/made', () => made),
    ],
  });
  const { raw } = serveForSuite(app);
  const client = createTestClient(app, { cookies: false });
  let made = new HttpResponse();
  /** The one Set-Cookie line `response` goes out with, sent by a view. */
  const cookieLine = async (response: HttpResponse): Promise<string> => {
    made = response;
    const lines = (await client.get('/made')).headers.getSetCookie();
    assert.equal(lines.length, 1);
    return lines[0]!;
  };

  test("Django 'test_instantiate_with_headers', 'test_header_deletion' and Starlette 'test_response_headers': names are case-insensitive, a set replaces, deleting an absent header is no error", async () => {
    const response = new HttpResponse('hello', { headers: { 'X-Foo': 'foo' } });
    assert.equal(response.headers.get('X-Foo'), 'foo');
    assert.equal(response.headers.get('x-foo'), 'foo');
    response.headers.delete('X-Foo');
    assert.equal(response.headers.has('x-foo'), false);
    response.headers.delete('X-Foo');
    const sent = await client.get('/headers');
    assert.equal(sent.headers.get('x-header-1'), '123');
    assert.equal(sent.headers.get('x-header-2'), '789');
    assert.equal(sent.headers.get('x-multi'), 'a, b');
  });

  test("Django 'test_headers_type': a Latin-1 value goes out as Latin-1 bytes on the wire; a character beyond Latin-1 is refused (Django MIME-encodes it: a difference, on purpose)", async () => {
    const wire = await raw('/headers');
    assert.ok(wire.raw.includes(Buffer.from('key: caf\xe9\r\n', 'latin1')), 'café is the byte 0xE9');
    assert.deepEqual(wire.headerList.filter(([name]) => name === 'x-multi'), [['x-multi', 'a'], ['x-multi', 'b']], 'one line per value appended');
    assert.throws(() => new HttpResponse().headers.set('key', '†'), { name: 'TypeError', message: /beyond Latin-1 .*U\+2020/ });
    assert.throws(() => new HttpResponse().headers.set('føø', 'bar'), { name: 'TypeError', message: /invalid header name "føø"/ });
  });

  test("Django 'test_newlines_in_headers' and 'test_encoded_with_newlines_in_headers': CR or LF in a name or a value, beside non-ASCII or not, is refused where it is set", () => {
    for (const [name, value] of [['test\rstr', 'test'], ['test\nstr', 'test'], ['†\nother', 'test']]) {
      assert.throws(() => new HttpResponse().headers.set(name!, value!), { name: 'TypeError', message: /invalid header name/ }, JSON.stringify(name));
    }
    for (const value of ['†\nother', 'a\rb', 'a\r\nSet-Cookie: x=1']) {
      assert.throws(() => new HttpResponse().headers.set('test', value), { name: 'TypeError', message: /CR, LF or NUL character in its value/ }, JSON.stringify(value));
    }
  });

  test("Django 'test_status_code' and Starlette 'test_response_phrase': the reason phrase is Node's for the status; one Node does not know goes out as 'unknown' (no custom reason: a difference, on purpose)", async () => {
    const line = async (code: number) => (await raw(`/status/${code}`)).raw.toString('latin1').split('\r\n')[0];
    assert.equal(await line(204), 'HTTP/1.1 204 No Content');
    assert.equal(await line(418), "HTTP/1.1 418 I'm a Teapot");
    assert.equal(await line(814), 'HTTP/1.1 814 unknown');
    assert.throws(() => new HttpResponse(null, { status: 123 }), { name: 'RangeError', message: /interim/ });
  });

  test("Django 'test_redirect' and Starlette 'test_redirect_response': a path or an absolute URL, the Location as given; a body set on it is sent; the redirect is followed to the view", async () => {
    assert.equal(redirect('/redirected/').headers.get('location'), '/redirected/');
    assert.equal(redirect('https://example.com/a?b=c#d', 301).headers.get('location'), 'https://example.com/a?b=c#d');
    assert.equal(redirect('ftp://example.com/file').headers.get('location'), 'ftp://example.com/file');
    const moved = redirect('/redirected/');
    moved.body = 'The resource has temporarily moved';
    made = moved;
    const sent = await client.get('/made');
    assert.equal(sent.status, 302);
    assert.equal(await sent.text(), 'The resource has temporarily moved');
    const response = await raw('/redirect');
    assert.equal(response.status, 302);
    assert.equal((await raw(response.headers['location']!)).body.toString(), 'hello, world');
  });

  test("Django 'test_unsafe_redirect' and 'test_invalid_redirect_repr': data:, mailto:, file: and ssh: locations are refused, naming the scheme", () => {
    for (const [location, scheme] of [['data:text/html,<script>window.alert("xss")</script>', 'data'], ['mailto:test@example.com', 'mailto'], ['file:///etc/passwd', 'file'], ['ssh://foo', 'ssh']]) {
      for (const status of [302, 301]) {
        assert.throws(() => redirect(location!, status), { name: 'TypeError', message: new RegExp(`unsafe redirect to a URL with the scheme '${scheme}:'`) }, location);
      }
    }
  });

  test("Django's iri_to_uri on a redirect: non-ASCII as UTF-8 percent-escapes, escapes given kept as they are", () => {
    assert.equal(redirect('/café/?q=é').headers.get('location'), '/caf%C3%A9/?q=%C3%A9');
    assert.equal(redirect('/caf%C3%A9/?q=a%20b').headers.get('location'), '/caf%C3%A9/?q=a%20b');
    assert.equal(redirect('https://例え.jp/パス').headers.get('location'), 'https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9');
  });

  test("Django 'test_redirect_max_length_default_raises': a location past 16384 characters as sent is refused (no client reads it: undici's head is 16 KiB), one of 16384 is kept", () => {
    assert.equal(redirect(`/${'x'.repeat(16_383)}`).headers.get('location')!.length, 16_384);
    assert.throws(() => redirect(`https://example.com/${'x'.repeat(16_384)}`), { name: 'TypeError', message: /redirect\(\): the location comes to 16404 characters as sent, past 16384/ });
    // Counted as sent: 'é' is six characters once percent-encoded.
    assert.throws(() => redirect(`/${'é'.repeat(2_731)}`), { name: 'TypeError', message: /16387 characters as sent/ });
  });

  test("Django 'test_json_response_text', 'test_json_response_uuid' and 'test_json_response_raises_type_error_with_default_setting': any JSON value is a body (no safe=False: a difference, on purpose); what JSON cannot encode is refused", () => {
    assert.equal(new JsonResponse('foobar').body, '"foobar"');
    assert.equal(new JsonResponse([1, 2, 3]).body, '[1,2,3]');
    const uuid = crypto.randomUUID();
    assert.equal(JSON.parse(new JsonResponse(uuid).body as string), uuid);
    // Django's custom encoder is a toJSON() here.
    assert.equal(new JsonResponse({ toJSON: () => ({ foo: 'bar' }) }).body, '{"foo":"bar"}');
    assert.throws(() => new JsonResponse(() => 1), { name: 'TypeError', message: /JsonResponse cannot encode a function as JSON/ });
  });

  test("Django 'test_streaming_response' and Starlette 'test_streaming_response_memoryview': strings and bytes mixed go out as bytes, strings as UTF-8", async () => {
    const wire = await raw('/mixed');
    assert.equal(wire.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(wire.body, Buffer.concat([Buffer.from('hellocafé'), Buffer.from([0xc0, 0xf5])]));
    assert.deepEqual((await client.get('/mixed')).body, wire.body);
  });

  test("Starlette 'test_response_memoryview': a body or chunk that is another view of bytes (ArrayBuffer, DataView) is refused naming it: a TypeError where a body is made, a logged 500 for a stream's first chunk", async () => {
    for (const body of [new ArrayBuffer(1), new DataView(new ArrayBuffer(1))]) {
      assert.throws(() => new HttpResponse(body as never), { name: 'TypeError', message: /a response body must be a string, a Uint8Array or null, got an instance of (ArrayBuffer|DataView)/ });
    }
    const response = await client.get('/array-buffer');
    assert.equal(response.status, 500);
    assert.match(String((response.error as Error).message), /must yield strings or Uint8Arrays, got an instance of ArrayBuffer/);
  });

  test("Starlette 'test_streaming_response_custom_iterator': an object with [Symbol.asyncIterator] and next() is a source", async () => {
    assert.equal(await (await client.get('/custom-iterator')).text(), '12345');
    assert.equal((await raw('/custom-iterator')).body.toString(), '12345');
  });

  test("Starlette 'test_sync_streaming_response': a sync iterable is refused, saying how to stream it (a difference, on purpose)", () => {
    for (const source of [['hello', 'world'], (function* () { yield 'x'; })()]) {
      assert.throws(() => new StreamingResponse(source as never), { name: 'TypeError', message: /a sync iterable .*Readable\.from\(/ });
    }
  });

  test("Starlette 'test_streaming_response_known_size' and 'test_streaming_response_unknown_size': a declared length is kept, none is chunked", async () => {
    const known = await raw('/known-size');
    assert.equal(known.headers['content-length'], '10');
    assert.equal(known.headers['transfer-encoding'], undefined);
    assert.equal(known.body.toString(), 'helloworld');
    assert.equal((await raw('/mixed')).headers['content-length'], undefined);
  });

  test("Starlette 'test_head_method' on JSON: the GET's headers and length, no body", async () => {
    const head = await raw('/json-head', {}, 'HEAD');
    assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength('{"key":"łóżko"}')));
    assert.ok(head.raw.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
  });

  test("Django 'test_not_modified' and Starlette 'test_empty_204_response': a 204 or 304 made with a body has no Content-Type Coda chose for that body, which is never sent", async () => {
    assert.equal(new HttpResponse('', { status: 204 }).headers.get('content-type'), null);
    assert.equal(new HttpResponse(new Uint8Array(1), { status: 304 }).headers.get('content-type'), null);
    assert.equal(new HttpResponse('', { status: 204, headers: { 'content-type': 'text/csv' } }).headers.get('content-type'), 'text/csv');
    for (const path of ['/empty-204', '/text-304']) {
      const response = await raw(path);
      assert.equal(response.headers['content-type'], undefined, path);
      assert.equal(response.headers['content-length'], undefined, path);
      assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), `nothing after the head of ${path}`);
    }
    assert.equal((await raw('/text-304')).headers['etag'], '"v1"');
  });

  test("Starlette 'test_set_cookie': every attribute on the wire (Max-Age and Expires both, as given)", async () => {
    const response = await raw('/set-cookie');
    assert.deepEqual(response.headerList.filter(([name]) => name === 'set-cookie').map(([, value]) => value), [
      'mycookie=myvalue; Max-Age=10; Domain=localhost; Path=/; Expires=Thu, 22 Jan 2037 12:00:10 GMT; HttpOnly; Secure; Partitioned; SameSite=None',
    ]);
  });

  test("Django 'test_far_expiration', 'test_max_age_expiration', 'test_max_age_int' and 'test_httponly_cookie': Expires as an HTTP date, Max-Age alone without one (no Expires computed), a fraction refused, HttpOnly by default", async () => {
    const header = (options: CookieOptions) => cookieLine(new HttpResponse().setCookie('c', 'v', options));
    assert.equal(await header({ expires: EXPIRES }), 'c=v; Path=/; Expires=Thu, 22 Jan 2037 12:00:10 GMT; HttpOnly; SameSite=Lax');
    assert.equal(await header({ maxAge: 10 }), 'c=v; Max-Age=10; Path=/; HttpOnly; SameSite=Lax');
    assert.equal(await header({ httpOnly: false }), 'c=v; Path=/; SameSite=Lax');
    assert.throws(() => new HttpResponse().setCookie('max_age', '', { maxAge: 10.6 }), { name: 'TypeError', message: /maxAge must be a whole number of seconds/ });
  });

  test("Django 'test_samesite' and 'test_invalid_samesite': lax, strict and none (with Secure) are written; another value, or another case, is refused naming the three", async () => {
    assert.match(await cookieLine(new HttpResponse().setCookie('example', '', { sameSite: 'strict' })), /; SameSite=Strict$/);
    assert.match(await cookieLine(new HttpResponse().setCookie('example', '', { sameSite: 'none', secure: true })), /; Secure; SameSite=None$/);
    for (const sameSite of ['invalid', 'Lax']) {
      assert.throws(() => new HttpResponse().setCookie('example', '', { sameSite: sameSite as never }), { name: 'TypeError', message: /sameSite must be 'lax', 'strict' or 'none'/ });
    }
  });

  test("Django 'test_secure_prefix_requires_secure', 'test_host_prefix_requires_path_root' and 'test_host_prefix_forbids_domain': __Secure- and __Host- are Secure unasked (Django refuses them without secure=True), secure: false and a __Host- path or domain are refused", async () => {
    for (const name of ['__Secure-c', '__Host-c']) {
      assert.match(await cookieLine(new HttpResponse().setCookie(name, 'value')), /; Secure;/);
      assert.throws(() => new HttpResponse().setCookie(name, 'value', { secure: false }), { name: 'TypeError', message: /must be Secure/ });
    }
    assert.throws(() => new HttpResponse().setCookie('__Host-c', 'value', { secure: true, path: '/sub/' }), { name: 'TypeError', message: /__Host- cookie takes no domain and the path '\/'/ });
    assert.throws(() => new HttpResponse().setCookie('__Host-c', 'value', { secure: true, domain: 'example.com' }), { name: 'TypeError', message: /__Host- cookie takes no domain/ });
  });

  test("Django DeleteCookieTests 'test_default', 'test_delete_cookie_secure_prefix', 'test_delete_cookie_samesite' and 'test_create_cookie_after_deleting_cookie': expired in 1970 with Max-Age=0; a prefixed name Secure; a cookie set again after its deletion has no expiry", async () => {
    assert.equal(await cookieLine(new HttpResponse().deleteCookie('c')), 'c=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax');
    assert.match(await cookieLine(new HttpResponse().deleteCookie('c', { path: '/a', domain: 'example.com', sameSite: 'strict' })), /^c=; Max-Age=0; Domain=example.com; Path=\/a; Expires=.*; SameSite=Strict$/);
    for (const name of ['__Secure-c', '__Host-c']) assert.match(await cookieLine(new HttpResponse().deleteCookie(name)), /; Secure;/);
    assert.equal(await cookieLine(new HttpResponse().setCookie('c', 'old').deleteCookie('c').setCookie('c', 'new')), 'c=new; Path=/; HttpOnly; SameSite=Lax');
  });

  test("Django 'test_delete_cookie_secure_samesite_none': deleting with sameSite 'none' needs secure: true, as setting does (Django adds Secure unasked: a difference, on purpose)", async () => {
    assert.throws(() => new HttpResponse().deleteCookie('c', { sameSite: 'none' }), { name: 'TypeError', message: /sameSite: 'none' needs secure: true/ });
    assert.match(await cookieLine(new HttpResponse().deleteCookie('c', { sameSite: 'none', secure: true })), /; Secure; SameSite=None$/);
  });

  test("Starlette 'test_delete_cookie': a cookie set, then deleted, through a client that keeps cookies", async () => {
    const browser = createTestClient(app);
    const set = await browser.get('/toggle-cookie');
    assert.equal(await set.text(), 'set');
    assert.deepEqual(await (await browser.get('/echo-cookies')).json(), { mycookie: 'myvalue' });
    const deleted = await browser.get('/toggle-cookie');
    assert.equal(await deleted.text(), 'deleted');
    assert.match(deleted.headers.get('set-cookie')!, /^mycookie=; Max-Age=0;/);
    assert.deepEqual(await (await browser.get('/echo-cookies')).json(), {});
  });

  test("Django CookieTests 'test_encode', 'test_decode' and SetCookieTests 'test_unicode_cookie': ';' and ',' are encoded, spaces and non-ASCII too, and each reads back as set", async () => {
    const response = await raw('/awkward-cookie');
    const lines = response.headerList.filter(([name]) => name === 'set-cookie').map(([, value]) => value.split('; ')[0]!);
    assert.deepEqual(lines, ['test=An%2Cawkward%3Bvalue', 'unicode=%E6%B8%85%E9%A2%A8%20a%20b']);
    const echoed = await client.get('/echo-cookies', { headers: { cookie: lines.join('; ') } });
    assert.deepEqual(await echoed.json(), { test: 'An,awkward;value', unicode: '清風 a b' });
  });
});

