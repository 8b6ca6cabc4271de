import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, type CookieOptions, type HttpRequest, type SignedCookieOptions } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger, rawRequest, startServer } from '../helpers.js';

const SECRET = 'a long random secret for the tests, never this in production';

const showCookies = (request: HttpRequest) => new JsonResponse(Object.fromEntries(request.cookies));

describe('request.cookies', () => {
  const app = createApp({ routes: [get('/', showCookies), get('/one/:name', (request) => new JsonResponse({ value: request.cookies.get(request.params.name) ?? null }))] });
  const client = createTestClient(app);

  test('parses the Cookie header, percent-decoding values', async () => {
    const res = await client.get('/', { headers: { cookie: 'theme=dark; lang=en%20GB; empty=' } });
    assert.deepEqual(await res.json(), { theme: 'dark', lang: 'en GB', empty: '' });
  });

  test('no Cookie header: no cookies', async () => {
    assert.deepEqual(await (await client.get('/')).json(), {});
  });

  test('a malformed header never fails the request: pairs without "=" are skipped, broken escapes kept as sent', async () => {
    const res = await client.get('/', { headers: { cookie: ';;; =; novalue; a=1;; b=%E0%A4%A; c="quoted"; =orphan; d=ok' } });
    assert.equal(res.status, 200);
    const cookies = await res.json<Record<string, string>>();
    assert.equal(cookies.a, '1');
    assert.equal(cookies.b, '%E0%A4%A');
    assert.equal(cookies.d, 'ok');
    assert.equal('novalue' in cookies, false);
  });

  test('raw UTF-8 bytes in a value (document.cookie = "name=José 日本") are read as UTF-8, as Django does; bytes that are not UTF-8 are kept as Latin-1', async () => {
    const server = await startServer(app, { host: '127.0.0.1' });
    try {
      const head = (cookie: Buffer) => Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nCookie: '), cookie, Buffer.from('\r\nConnection: close\r\n\r\n')]);
      const utf8 = await rawRequest(server, head(Buffer.from('name=José 日本; plain=x')));
      assert.deepEqual(JSON.parse(utf8.body.toString()), { name: 'José 日本', plain: 'x' });
      const latin1 = await rawRequest(server, head(Buffer.from('name=Jos\xe9', 'latin1')));
      assert.deepEqual(JSON.parse(latin1.body.toString()), { name: 'José' });
    } finally {
      await server.close();
    }
    // The test client sends a value beyond Latin-1 as its UTF-8 bytes, as a browser does: read the same.
    assert.deepEqual(await (await client.get('/', { headers: { cookie: 'name=日本' } })).json(), { name: '日本' });
  });

  test('a name sent twice keeps the first (the most specific path)', async () => {
    assert.deepEqual(await (await client.get('/one/id', { headers: { cookie: 'id=first; id=second' } })).json(), { value: 'first' });
  });

  test('__proto__ and constructor are plain names', async () => {
    const res = await client.get('/one/__proto__', { headers: { cookie: '__proto__=x; constructor=y' } });
    assert.deepEqual(await res.json(), { value: 'x' });
    assert.deepEqual(await (await client.get('/one/toString')).json(), { value: null });
  });

  test('over a real socket, a huge header of garbage is answered, not crashed on', async () => {
    const server = await startServer(app);
    try {
      const garbage = Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? `k${i}` : `k${i}=%%${i}`)).join(';');
      const res = await rawRequest(server, `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${garbage}\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body.toString()) as Record<string, string>).k1, '%%1');
    } finally {
      await server.close();
    }
  });

  // Two Cookie fields (HTTP/2 clients send cookie crumbs, RFC 9113 8.2.3) are one list joined with "; " (RFC 6265 5.4), never ", ".
  test('two Cookie header lines over a real socket: both cookies (node:http joins them with "; ")', async () => {
    const server = await startServer(app, { host: '127.0.0.1' });
    try {
      const res = await rawRequest(server, 'GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: b=2; c=3\r\nConnection: close\r\n\r\n');
      assert.deepEqual(JSON.parse(res.body.toString()), { a: '1', b: '2', c: '3' });
    } finally {
      await server.close();
    }
  });

  test('app.fetch of a Request with two Cookie headers appended: both cookies (the Request\'s Headers join them with "; ")', async () => {
    const headers = new Headers();
    headers.append('cookie', 'a=1');
    headers.append('Cookie', 'b=2');
    const res = await app.fetch(new Request('http://localhost/', { headers }));
    assert.deepEqual(await res.json(), { a: '1', b: '2' });
  });
});

function cookieApp(options: CookieOptions | undefined, extra: { secret?: string | string[]; trustProxy?: boolean } = {}) {
  return createApp({
    ...extra,
    routes: [get('/set', () => new HttpResponse('ok').setCookie('theme', 'dark', options))],
  });
}

describe('response.setCookie()', () => {
  test('safe defaults: Path=/, HttpOnly, SameSite=Lax, no Secure over plain HTTP', async () => {
    await using client = createTestClient(cookieApp(undefined), { transport: 'socket' });
    const res = await client.get('/set');
    assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; SameSite=Lax']);
  });

  test('options are written as attributes', async () => {
    const expires = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    await using client = createTestClient(cookieApp({ maxAge: 3600, expires, domain: 'example.com', path: '/app', httpOnly: false, sameSite: 'strict', priority: 'high' }));
    const res = await client.get('/set');
    assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; Max-Age=3600; Domain=example.com; Path=/app; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Priority=High; SameSite=Strict']);
  });

  test('Secure by default when the request came over HTTPS through a trusted proxy, not when the proxy is not trusted', async () => {
    await using trusted = createTestClient(cookieApp(undefined, { trustProxy: true }));
    const https = await trusted.get('/set', { headers: { 'x-forwarded-proto': 'https' } });
    assert.deepEqual(https.headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; Secure; SameSite=Lax']);
    await using untrusted = createTestClient(cookieApp(undefined));
    const spoofed = await untrusted.get('/set', { headers: { 'x-forwarded-proto': 'https' } });
    assert.deepEqual(spoofed.headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; SameSite=Lax']);
  });

  test('secure: false is honoured; sameSite none with secure: true is written', async () => {
    await using client = createTestClient(cookieApp({ secure: true, sameSite: 'none', partitioned: true }));
    assert.deepEqual((await client.get('/set')).headers.getSetCookie(), ['theme=dark; Path=/; HttpOnly; Secure; Partitioned; SameSite=None']);
  });

  test('a value with ";", "=", CR/LF or spaces is percent-encoded: no attribute or header is injected, and it reads back as set', async () => {
    const nasty = 'x; Domain=evil.example\r\nSet-Cookie: admin=1';
    const app = createApp({
      routes: [
        get('/set', () => new HttpResponse('ok').setCookie('note', nasty)),
        get('/read', (request) => new HttpResponse(request.cookies.get('note') ?? 'absent')),
      ],
    });
    await using client = createTestClient(app, { transport: 'socket' });
    const cookies = (await client.get('/set')).headers.getSetCookie();
    assert.equal(cookies.length, 1);
    assert.match(cookies[0]!, /^note=x%3B%20Domain%3Devil\.example%0D%0ASet-Cookie%3A%20admin%3D1; Path=\/; HttpOnly; SameSite=Lax$/);
    const value = cookies[0]!.split(';')[0]!;
    assert.equal(await (await client.get('/read', { headers: { cookie: value } })).text(), nasty);
  });

  test('setting the same name, domain and path again replaces it; other paths are other cookies', async () => {
    const app = createApp({
      routes: [get('/set', () => new HttpResponse('ok').setCookie('a', '1').setCookie('a', '2').setCookie('a', '3', { path: '/x' }))],
    });
    await using client = createTestClient(app);
    assert.deepEqual((await client.get('/set')).headers.getSetCookie(), ['a=2; Path=/; HttpOnly; SameSite=Lax', 'a=3; Path=/x; HttpOnly; SameSite=Lax']);
  });

  test('a partitioned cookie (CHIPS) and an unpartitioned one of the same name, domain and path are two cookies, as browsers keep them', async () => {
    const app = createApp({
      routes: [get('/set', () => new HttpResponse('ok').setCookie('a', '1', { secure: true }).setCookie('a', '2', { secure: true, partitioned: true }).deleteCookie('a', { secure: true, partitioned: true }))],
    });
    await using client = createTestClient(app);
    const [plain, partitioned, ...rest] = (await client.get('/set')).headers.getSetCookie();
    assert.equal(plain, 'a=1; Path=/; HttpOnly; Secure; SameSite=Lax');
    // The deletion replaced the partitioned one only.
    assert.match(partitioned!, /^a=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; Partitioned; SameSite=Lax$/);
    assert.deepEqual(rest, []);
  });

  test('__Secure- and __Host- cookies are always Secure', async () => {
    const app = createApp({ routes: [get('/set', () => new HttpResponse('ok').setCookie('__Host-id', '1'))] });
    await using client = createTestClient(app);
    assert.deepEqual((await client.get('/set')).headers.getSetCookie(), ['__Host-id=1; Path=/; HttpOnly; Secure; SameSite=Lax']);
  });

  test('a response reused for many requests writes its cookies once for each, as each request came (Secure over HTTPS)', async () => {
    const shared = new HttpResponse('ok').setCookie('a', '1');
    await using client = createTestClient(createApp({ routes: [get('/', () => shared)], trustProxy: true }));
    assert.deepEqual((await client.get('/')).headers.getSetCookie(), ['a=1; Path=/; HttpOnly; SameSite=Lax']);
    assert.deepEqual((await client.get('/', { headers: { 'x-forwarded-proto': 'https' } })).headers.getSetCookie(), ['a=1; Path=/; HttpOnly; Secure; SameSite=Lax']);
    assert.deepEqual((await client.get('/')).headers.getSetCookie(), ['a=1; Path=/; HttpOnly; SameSite=Lax']);
  });
});

describe('response.setCookie() refuses bad input where it is called', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['a name with ";"', () => new HttpResponse().setCookie('a;b', 'v'), /^response\.setCookie\(\): invalid cookie name string "a;b": a name is letters, digits/],
    ['a name with "="', () => new HttpResponse().setCookie('a=b', 'v'), /invalid cookie name string "a=b"/],
    ['a name with CR/LF', () => new HttpResponse().setCookie('a\r\nX-Evil: 1', 'v'), /invalid cookie name string "a\\r\\nX-Evil: 1"/],
    ['a name with a space', () => new HttpResponse().setCookie('my cookie', 'v'), /invalid cookie name string "my cookie"/],
    ['an empty name', () => new HttpResponse().setCookie('', 'v'), /invalid cookie name string ""/],
    ['a value that is not a string', () => new HttpResponse().setCookie('a', 7 as unknown as string), /^response\.setCookie\(\): the value of cookie a must be a string, got number 7$/],
    ['an unknown option', () => new HttpResponse().setCookie('a', 'v', { maxage: 5 } as CookieOptions), /^response\.setCookie\(\) for cookie a: unknown option "maxage"; did you mean "maxAge"\?$/],
    ["sameSite 'none' without secure", () => new HttpResponse().setCookie('a', 'v', { sameSite: 'none' }), /^response\.setCookie\(\): cookie a: sameSite: 'none' needs secure: true/],
    ['an unknown sameSite', () => new HttpResponse().setCookie('a', 'v', { sameSite: 'loose' as 'lax' }), /sameSite must be 'lax', 'strict' or 'none', got string "loose"/],
    ['partitioned without secure', () => new HttpResponse().setCookie('a', 'v', { partitioned: true }), /partitioned: true needs secure: true/],
    ['a negative maxAge', () => new HttpResponse().setCookie('a', 'v', { maxAge: -1 }), /maxAge must be a whole number of seconds, 0 or more, got number -1 \(to delete a cookie, use deleteCookie\(\)\)/],
    ['a fractional maxAge', () => new HttpResponse().setCookie('a', 'v', { maxAge: 1.5 }), /maxAge must be a whole number/],
    ['an invalid Date', () => new HttpResponse().setCookie('a', 'v', { expires: new Date('nope') }), /expires must be a valid Date/],
    ['a flag that is not a boolean', () => new HttpResponse().setCookie('a', 'v', { httpOnly: 'yes' as unknown as boolean }), /httpOnly must be true or false, got string "yes"/],
    ['a path with ";"', () => new HttpResponse().setCookie('a', 'v', { path: '/; Domain=evil' }), /^response\.setCookie\(\): cookie a: its path string "\/; Domain=evil" holds a character the attribute cannot carry \(';' or a control character would end or split the Set-Cookie line\)$/],
    // Escaped in the message: the library's quoted the value raw, and the CR/LF split the log line that showed it.
    ['a domain with CR/LF', () => new HttpResponse().setCookie('a', 'v', { domain: 'x.com\r\nX: 1' }), /^response\.setCookie\(\): cookie a: its domain string "x\.com\\r\\nX: 1" holds a character/],
    ['a path with CR/LF', () => new HttpResponse().setCookie('a', 'v', { path: '/a\r\nX: y' }), /^[^\r\n]*its path string "\/a\\r\\nX: y" holds/],
    ['a __Secure- cookie with secure: false', () => new HttpResponse().setCookie('__Secure-a', 'v', { secure: false }), /a __Secure- or __Host- cookie must be Secure/],
    ['a __Host- cookie with a domain', () => new HttpResponse().setCookie('__Host-a', 'v', { domain: 'example.com' }), /a __Host- cookie takes no domain and the path '\/'/],
    ['a name and value past 4096 bytes, which browsers drop', () => new HttpResponse().setCookie('a', 'x'.repeat(4096)), /^response\.setCookie\(\): cookie a: its name and value come to 4097 bytes as sent, and browsers drop a cookie past 4096 without a word: keep an id/],
    ['one past 4096 bytes once percent-encoded', () => new HttpResponse().setCookie('a', ';'.repeat(1400)), /cookie a: its name and value come to 4201 bytes as sent/],
    ['one past 4096 bytes once signed', () => new HttpResponse().setCookie('a', 'x'.repeat(4050), { signed: true }), /cookie a: its name and value come to \d+ bytes as sent, signed/],
    ['a path past 1024 bytes, whose attribute browsers ignore', () => new HttpResponse().setCookie('a', 'v', { path: `/${'p'.repeat(1024)}` }), /^response\.setCookie\(\): cookie a: its path comes to 1025 bytes, and browsers ignore a path past 1024 without a word \(the cookie is then kept for another path than the one given\)$/],
    ['a domain past 1024 bytes', () => new HttpResponse().setCookie('a', 'v', { domain: Array.from({ length: 17 }, () => 'd'.repeat(63)).join('.') }), /cookie a: its domain comes to 1087 bytes, and browsers ignore a domain past 1024/],
    ['deleteCookie with a path past 1024 bytes', () => new HttpResponse().deleteCookie('a', { path: `/${'p'.repeat(1024)}` }), /^response\.deleteCookie\(\): cookie a: its path comes to 1025 bytes/],
    ['a path that does not start with a slash, which browsers ignore for the folder of the page', () => new HttpResponse().setCookie('a', 'v', { path: 'admin' }), /^response\.setCookie\(\): cookie a: its path must start with "\/", got string "admin": browsers ignore any other \(RFC 6265bis 5\.6\.4\) and keep the cookie for the folder of the page that set it$/],
    ['an empty path', () => new HttpResponse().setCookie('a', 'v', { path: '' }), /cookie a: its path must start with "\/", got string ""/],
    ['deleteCookie with a path that does not start with a slash', () => new HttpResponse().deleteCookie('a', { path: 'admin' }), /^response\.deleteCookie\(\): cookie a: its path must start with "\/"/],
    ['a value with a lone surrogate (a JSON body can hold one)', () => new HttpResponse().setCookie('a', 'x\ud800'), /^response\.setCookie\(\): cookie a: its value is not well-formed Unicode \(a lone surrogate\), which has no UTF-8 to percent-encode$/],
    ['deleteCookie with a set-only option', () => new HttpResponse().deleteCookie('a', { maxAge: 5 } as CookieOptions), /^response\.deleteCookie\(\) for cookie a: unknown option "maxAge"/],
  ];
  for (const [what, call, message] of cases) {
    test(what, () => assert.throws(call, { name: 'TypeError', message }));
  }

  test('a path of 1024 bytes exactly, the most of an attribute browsers read, is set', async () => {
    const path = `/${'p'.repeat(1023)}`;
    await using client = createTestClient(createApp({ routes: [get('/', () => new HttpResponse('ok').setCookie('a', 'v', { path }))] }));
    assert.deepEqual((await client.get('/')).headers.getSetCookie(), [`a=v; Path=${path}; HttpOnly; SameSite=Lax`]);
  });

  test('a name and value of 4096 bytes exactly, the most browsers keep, are set', async () => {
    const app = createApp({ routes: [get('/', () => new HttpResponse().setCookie('a', 'x'.repeat(4095)))] });
    await using client = createTestClient(app);
    assert.equal((await client.get('/')).headers.getSetCookie()[0], `a=${'x'.repeat(4095)}; Path=/; HttpOnly; SameSite=Lax`);
  });

  test('in a view, such a mistake is a 500 that names it (debug)', async () => {
    const app = createApp({ debug: true, routes: [get('/', () => new HttpResponse().setCookie('a b', 'v'))] });
    await using client = createTestClient(app);
    const res = await client.get('/');
    assert.equal(res.status, 500);
    assert.match(await res.text(), /TypeError: response\.setCookie\(\): invalid cookie name string "a b"/);
  });
});

describe('response.deleteCookie()', () => {
  test('an empty value expired in 1970, with the path and domain given, and the safe defaults', async () => {
    const app = createApp({ routes: [get('/out', () => new HttpResponse('bye').deleteCookie('session').deleteCookie('pref', { path: '/app', domain: 'example.com' }))] });
    await using client = createTestClient(app, { transport: 'socket' });
    assert.deepEqual((await client.get('/out')).headers.getSetCookie(), [
      'session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
      'pref=; Max-Age=0; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    ]);
  });

  test('deleting after setting the same cookie replaces the set', async () => {
    const app = createApp({ routes: [get('/', () => new HttpResponse().setCookie('a', '1').deleteCookie('a'))] });
    await using client = createTestClient(app);
    assert.deepEqual((await client.get('/')).headers.getSetCookie(), ['a=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax']);
  });
});

describe('signed cookies', () => {
  const signedApp = (secret: string | string[] | undefined, salt?: string) => createApp({
    secret,
    debug: true,
    routes: [
      get('/login', () => new HttpResponse('in').setCookie('session', 'user:42', { signed: true, salt })),
      get('/whoami', (request) => new JsonResponse({ user: request.signedCookies.get('session', { salt }) ?? null, raw: request.cookies.get('session') ?? null })),
      get('/fresh', (request) => new JsonResponse({ user: request.signedCookies.get('session', { salt, maxAge: 60 }) ?? null })),
      get('/other', (request) => new JsonResponse({ user: request.signedCookies.get('other') ?? null })),
    ],
  });

  async function login(client: ReturnType<typeof createTestClient>): Promise<string> {
    const cookie = (await client.get('/login')).headers.getSetCookie()[0]!;
    return cookie.split(';')[0]!;
  }

  test('a value signed by the app reads back; its raw form carries a timestamp and an HMAC-SHA256', async () => {
    await using client = createTestClient(signedApp(SECRET), { transport: 'socket' });
    const pair = await login(client);
    assert.match(pair, /^session=user:42\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
    const body = await (await client.get('/whoami', { headers: { cookie: pair } })).json<{ user: string; raw: string }>();
    assert.equal(body.user, 'user:42');
    assert.match(body.raw, /^user:42\./);
  });

  test('a tampered value, a forged signature, a missing signature, or garbage read as absent, never throw', async () => {
    await using client = createTestClient(signedApp(SECRET));
    const pair = await login(client);
    const [, signed] = pair.split('=') as [string, string];
    const decoded = decodeURIComponent(signed);
    const dot = decoded.lastIndexOf('.');
    const forgeries = [
      `session=${encodeURIComponent(decoded.replace('42', '43'))}`,
      `session=${encodeURIComponent(`${decoded.slice(0, dot)}.${'A'.repeat(43)}`)}`,
      'session=user%3A42',
      `session=${encodeURIComponent(decoded.slice(0, dot))}`,
      `session=${encodeURIComponent(`.${'A'.repeat(43)}`)}`,
      'session=%%%garbage',
      `session=${encodeURIComponent(`${decoded}x`)}`,
    ];
    for (const cookie of forgeries) {
      const res = await client.get('/whoami', { headers: { cookie } });
      assert.equal(res.status, 200, cookie);
      assert.equal((await res.json<{ user: unknown }>()).user, null, cookie);
    }
  });

  test('a value signed under another secret, for another cookie name or another salt reads as absent', async () => {
    await using other = createTestClient(signedApp('another secret entirely, long enough to sign'));
    const foreign = await login(other);
    await using client = createTestClient(signedApp(SECRET));
    assert.equal((await (await client.get('/whoami', { headers: { cookie: foreign } })).json<{ user: unknown }>()).user, null);
    const moved = (await login(client)).replace('session=', 'other=');
    assert.equal((await (await client.get('/other', { headers: { cookie: moved } })).json<{ user: unknown }>()).user, null);
    await using salted = createTestClient(signedApp(SECRET, 'login'));
    const saltedPair = await login(salted);
    assert.equal((await (await salted.get('/whoami', { headers: { cookie: saltedPair } })).json<{ user: unknown }>()).user, 'user:42');
    assert.equal((await (await client.get('/whoami', { headers: { cookie: saltedPair } })).json<{ user: unknown }>()).user, null);
  });

  test('rotation: a list of secrets signs with the first and verifies with all', async () => {
    await using old = createTestClient(signedApp('the old secret, from before the rotation began'));
    const oldPair = await login(old);
    await using rotated = createTestClient(signedApp([SECRET, 'the old secret, from before the rotation began']));
    assert.equal((await (await rotated.get('/whoami', { headers: { cookie: oldPair } })).json<{ user: unknown }>()).user, 'user:42');
    await using current = createTestClient(signedApp(SECRET));
    const newPair = await login(rotated);
    assert.equal((await (await current.get('/whoami', { headers: { cookie: newPair } })).json<{ user: unknown }>()).user, 'user:42');
  });

  test('maxAge: a value signed longer ago reads as absent', async (t) => {
    await using client = createTestClient(signedApp(SECRET));
    const pair = await login(client);
    assert.equal((await (await client.get('/fresh', { headers: { cookie: pair } })).json<{ user: unknown }>()).user, 'user:42');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 61_000 });
    assert.equal((await (await client.get('/fresh', { headers: { cookie: pair } })).json<{ user: unknown }>()).user, null);
  });

  test('without a secret, setting a signed cookie is a 500 that names the option, logged', async () => {
    const { logger, lines } = memoryLogger();
    const app = createApp({ logger, routes: [get('/login', () => new HttpResponse('in').setCookie('session', '1', { signed: true }))] });
    await using client = createTestClient(app);
    const res = await client.get('/login');
    assert.equal(res.status, 500);
    assert.deepEqual(res.headers.getSetCookie(), []);
    assert.ok(lines.some((line) => line.msg === 'response.setCookie("session", ..., { signed: true }) needs the app\'s `secret` option to sign cookies: createApp({ secret: process.env.CODA_SECRET })'));
  });

  test('without a secret, reading a signed cookie is a 500 that names the option', async () => {
    await using client = createTestClient(signedApp(undefined));
    const res = await client.get('/whoami', { headers: { cookie: 'session=x' } });
    assert.equal(res.status, 500);
    assert.match(await res.text(), /request\.signedCookies\.get\("session"\) needs the app's `secret` option to sign cookies/);
  });

  test('a secret that is empty or not a string is refused at createApp', () => {
    for (const secret of ['', [], [''], 42]) {
      assert.throws(() => createApp({ secret: secret as string }), {
        name: 'TypeError',
        message: /^createApp\(\): secret must be a non-empty string or a non-empty list of them \(the first signs, all verify\), got /,
      });
    }
  });

  test('signedCookies.get() checks its options', async () => {
    const app = createApp({ secret: SECRET, debug: true, routes: [get('/', (request) => new HttpResponse(request.signedCookies.get('a', { maxage: 1 } as unknown as { maxAge: number }) ?? ''))] });
    await using client = createTestClient(app);
    assert.match(await (await client.get('/')).text(), /request\.signedCookies\.get\(\): unknown option "maxage"; did you mean "maxAge"\?/);
  });

  test('signedCookies.get() refuses a maxAge that is not a number of seconds, or a salt that is not a string: every value read as absent, every session lost without a word', async () => {
    const cases: [SignedCookieOptions, RegExp][] = [
      [{ maxAge: Number(undefined) }, /^TypeError: request\.signedCookies\.get\("s"\): maxAge must be a number of seconds, 0 or more, got number NaN$/m],
      [{ maxAge: -1 }, /maxAge must be a number of seconds, 0 or more, got number -1$/m],
      [{ maxAge: '600' as unknown as number }, /maxAge must be a number of seconds, 0 or more, got string "600"$/m],
      [{ salt: 5 as unknown as string }, /^TypeError: request\.signedCookies\.get\("s"\): salt must be a string, got number 5$/m],
    ];
    let options: SignedCookieOptions = {};
    const app = createApp({ secret: SECRET, debug: true, routes: [
      get('/set', () => new HttpResponse().setCookie('s', 'v', { signed: true, salt: '5' })),
      get('/', (request) => new HttpResponse(request.signedCookies.get('s', options) ?? 'absent')),
    ] });
    await using client = createTestClient(app);
    await client.get('/set');
    for (const [given, message] of cases) {
      options = given;
      const res = await client.get('/');
      assert.equal(res.status, 500);
      assert.match(await res.text(), message);
    }
    options = { maxAge: 0.5 + 600, salt: '5' };
    assert.equal(await (await client.get('/')).text(), 'v');
  });
});

describe('Secure over a real TLS connection', () => {
  test('a cookie set on an HTTPS request is Secure by default', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'coda-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const app = cookieApp(undefined);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, app.handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const setCookie = await new Promise<string[]>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port, path: '/set', ca: readFileSync(cert), servername: 'localhost', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['set-cookie'] ?? []));
      }).on('error', reject).end();
    });
    assert.deepEqual(setCookie, ['theme=dark; Path=/; HttpOnly; Secure; SameSite=Lax']);
  });
});
