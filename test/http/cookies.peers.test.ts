// Cookie cases ported from peers' own suites: jshttp/cookie
// (src/parse-cookie.spec.ts, src/stringify-set-cookie.spec.ts), Express
// (test/res.cookie.js), and Django (tests/httpwrappers/tests.py, tests/signing/tests.py,
// tests/signed_cookies_tests/tests.py). Each test names its source.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, type CookieOptions, type HttpRequest } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { rawGet, rawRequest, startServer } from '../helpers.js';

const SECRET = 'a long random secret for the tests, never this in production';

describe('cookies, as jshttp/cookie, Express and Django test them', { timeout: 10_000 }, () => {
  const app = createApp({
    secret: SECRET,
    routes: [
      get('/cookies', (request: HttpRequest) => new JsonResponse(Object.fromEntries(request.cookies))),
      get('/two', () => new HttpResponse('ok', { headers: { 'set-cookie': 'legacy=1; Path=/' } }).setCookie('name', 'tobi').setCookie('species', 'ferret')),
      // The value in the query: an empty one is no :param (the router matches no empty segment).
      get('/sign', (request) => new HttpResponse('ok').setCookie('c', request.query.get('value') ?? '', { signed: true })),
      get('/read', (request) => new JsonResponse({ value: request.signedCookies.get('c', { maxAge: Number(request.query.get('maxAge') ?? 86_400) }) ?? null })),
    ],
  });
  const client = createTestClient(app, { transport: 'socket' });
  after(() => client.close());
  const cookies = async (header: string) => (await client.get('/cookies', { headers: { cookie: header } })).json<Record<string, string>>();

  test('jshttp/cookie parseCookie: OWS trimmed, empty values, quotes kept, broken escapes kept, pairs without "=" skipped, first wins', async () => {
    assert.deepEqual(await cookies('FOO    = bar;   baz  =   raz'), { FOO: 'bar', baz: 'raz' });
    assert.deepEqual(await cookies('foo=; bar='), { foo: '', bar: '' });
    assert.deepEqual(await cookies('foo="bar=123456789&name=Magic+Mouse"'), { foo: '"bar=123456789&name=Magic+Mouse"' });
    assert.deepEqual(await cookies('email=%20%22%2c%3b%2f'), { email: ' ",;/' });
    assert.deepEqual(await cookies('foo=%1;bar=bar'), { foo: '%1', bar: 'bar' });
    assert.deepEqual(await cookies('foo=bar;fizz  ;  buzz'), { foo: 'bar' });
    assert.deepEqual(await cookies('foo=false;bar=bar;foo=true'), { foo: 'false', bar: 'bar' });
    assert.deepEqual(await cookies('toString=foo;valueOf=bar'), { toString: 'foo', valueOf: 'bar' });
  });

  test("Django CookieTests 'test_python_cookies', 'test_cookie_edgecases', 'test_invalid_cookies': every semicolon ends a pair, quotes or not; '=', ':', '[', spaces and non-ASCII in names and values kept; whitespace trimmed as document.cookie does", async () => {
    assert.deepEqual(await cookies('chips=ahoy; vienna=finger'), { chips: 'ahoy', vienna: 'finger' });
    assert.deepEqual(await cookies('keebler="E=mc2; L=\\"Loves\\"; fudge=\\012;"'), { keebler: '"E=mc2', L: '\\"Loves\\"', fudge: '\\012' });
    assert.deepEqual(await cookies('keebler=E=mc2'), { keebler: 'E=mc2' });
    assert.deepEqual(await cookies('key:term=value:term'), { 'key:term': 'value:term' });
    assert.deepEqual(await cookies('a=b; c=[; d=r; f=h'), { a: 'b', c: '[', d: 'r', f: 'h' });
    assert.deepEqual(await cookies('a=b; Domain=example.com'), { a: 'b', Domain: 'example.com' });
    assert.deepEqual(await cookies('abc=def; unnamed; django_language=en'), { abc: 'def', django_language: 'en' });
    assert.deepEqual(await cookies('a b c=d e = f; gh=i'), { 'a b c': 'd e = f', gh: 'i' });
    assert.deepEqual(await cookies('a   b,c<>@:/[]?{}=d  "  =e,f g'), { 'a   b,c<>@:/[]?{}': 'd  "  =e,f g' });
    assert.deepEqual(await cookies(Buffer.from('saint=André Bessette').toString('latin1')), { saint: 'André Bessette' });
    assert.deepEqual(await cookies('  =  b  ;  ;  =  ;   c  =  ;  '), { '': 'b', c: '' });
  });

  test("Express res.cookie 'should set multiple cookies': one Set-Cookie line each, beside a view's own", async () => {
    const server = await startServer(app);
    after(() => server.close());
    const response = await rawRequest(server, rawGet('/two'));
    assert.deepEqual(response.headerList.filter(([name]) => name === 'set-cookie').map(([, value]) => value), [
      'legacy=1; Path=/',
      'name=tobi; Path=/; HttpOnly; SameSite=Lax',
      'species=ferret; Path=/; HttpOnly; SameSite=Lax',
    ]);
  });

  test('jshttp/cookie stringifySetCookie "should throw for invalid name/domain/path": refused where setCookie is called', () => {
    const cases: [string, CookieOptions][] = [
      ['foo\n', {}], ['foo\u280a', {}], ['foo=bar', {}], ['foo;bar', {}], ['foo bar', {}], ['foo\tbar', {}],
      ['foo', { domain: 'example.com\n' }], ['foo', { domain: 'sub.example.com\u0000' }], ['foo', { domain: 'my site.org' }],
      ['foo', { domain: 'example.com; Path=/' }], ['foo', { domain: 'example.com /* inject a comment */' }],
      ['foo', { path: '/\n' }], ['foo', { path: '/foo\u0000' }], ['foo', { path: '/path/with\rnewline' }],
      ['foo', { path: '/; Path=/sensitive-data' }],
    ];
    for (const [name, options] of cases) {
      assert.throws(() => new HttpResponse('').setCookie(name, 'bar', options), { name: 'TypeError', message: /^response\.setCookie\(\)/ }, `${JSON.stringify(name)} ${JSON.stringify(options)}`);
    }
  });

  const signed = async (value: string) => {
    const pair = (await client.get(`/sign?value=${encodeURIComponent(value)}`)).headers.getSetCookie()[0]!.split(';')[0]!;
    return pair;
  };
  const read = async (cookie: string, maxAge?: number) => (await (await client.get(`/read${maxAge === undefined ? '' : `?maxAge=${maxAge}`}`, { headers: { cookie } })).json<{ value: string | null }>()).value;

  test("Django signing 'test_sign_unsign': any value, separators and non-ASCII included, reads back", async () => {
    for (const value of ['jkw osanteuh ,rcuh nthu aou oauh ,ud du', '\u2019', 'a.b.c', 'with:colon', 'x;y=z', '']) {
      assert.equal(await read(await signed(value)), value, JSON.stringify(value));
    }
  });

  test("Django signed cookies 'test_detects_tampering' and signing 'test_unsign_detects_tampering': absent, never an error", async () => {
    const pair = await signed('hello');
    const forged = [
      `${pair.slice(0, -2)}$$`,
      `${pair}1`,
      pair.replace('c=', 'c=a'),
      // A signature of the right length in characters but not in bytes.
      `${pair.slice(0, -43)}${encodeURIComponent('é'.repeat(43))}`,
      `c=hello.x.${encodeURIComponent('\u{1F600}'.repeat(22))}`,
    ];
    for (const cookie of forged) {
      const response = await client.get('/read', { headers: { cookie } });
      assert.equal(response.status, 200, cookie);
      assert.equal((await response.json<{ value: string | null }>()).value, null, cookie);
    }
  });

  test("Django signed cookies 'test_max_age_argument': 11 seconds later, maxAge 11 reads, 10 does not", async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 123_456_789_000 });
    const pair = await signed('hello');
    t.mock.timers.setTime(123_456_800_000);
    assert.equal(await read(pair, 12), 'hello');
    assert.equal(await read(pair, 11), 'hello');
    assert.equal(await read(pair, 10), null);
  });
});
