// Signing cases ported from peers' own suites: Django (tests/signing/tests.py,
// tests/signed_cookies_tests/tests.py), tj/node-cookie-signature (test/index.js),
// expressjs/cookie-parser (test/cookieParser.js) and @fastify/cookie
// (test/signer.test.js). Each test names its source; the cases
// cookies.peers.test.ts and cookies.test.ts already hold are not repeated.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, describe, test } from 'node:test';
import { createApp, get, HttpResponse, JsonResponse, type App } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';

const SECRET = 'the current secret of these tests, long enough';
const OTHER = 'a second secret, also long enough to sign with';
const OLD = 'the old secret, from before the rotation began';

/** An app that signs `?value=` into cookie `c` (as an app signs what a user chose) and reads it back. */
function signingApp(secret: string | string[]): App {
  return createApp({
    secret,
    routes: [
      get('/sign', (request) => new HttpResponse('ok').setCookie('c', request.query.get('value') ?? '', { signed: true })),
      get('/read', (request) => {
        const maxAge = request.query.get('maxAge');
        return new JsonResponse({ value: request.signedCookies.get('c', maxAge === null ? undefined : { maxAge: Number(maxAge) }) ?? null, raw: request.cookies.get('c') ?? null });
      }),
    ],
  });
}

describe('signed cookies, as Django, cookie-signature, cookie-parser and @fastify/cookie test them', { timeout: 30_000 }, () => {
  const clients = new Map<string, ReturnType<typeof createTestClient>>();
  const client = (secret: string | string[]) => {
    const key = JSON.stringify(secret);
    if (!clients.has(key)) clients.set(key, createTestClient(signingApp(secret), { transport: 'socket' }));
    return clients.get(key)!;
  };
  after(() => Promise.all([...clients.values()].map((c) => c.close())));

  /** The `c=...` pair the app sets for `value`, as sent. */
  const signed = async (secret: string | string[], value: string) =>
    (await client(secret).get(`/sign?value=${encodeURIComponent(value)}`)).headers.getSetCookie()[0]!.split(';')[0]!;
  const read = async (secret: string | string[], cookie: string, maxAge?: number) =>
    (await (await client(secret).get(`/read${maxAge === undefined ? '' : `?maxAge=${maxAge}`}`, { headers: { cookie } })).json<{ value: string | null; raw: string | null }>());

  test("Django signing 'test_works_with_non_ascii_keys' and signed cookies 'test_signed_cookies_with_binary_key': a non-ASCII secret signs and verifies; its NFC and NFD spellings are two keys", async () => {
    const nfc = 'clé secrète: ключ, 鍵, 🔑, assez longue pour signer'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    assert.notEqual(nfc, nfd);
    const pair = await signed(nfc, 'héllo 🐍');
    assert.equal((await read(nfc, pair)).value, 'héllo 🐍');
    assert.equal((await read(nfd, pair)).value, null);
  });

  test("Django signing 'test_verify_with_non_default_key' and 'test_sign_unsign_ignore_secret_key_fallbacks', cookie-parser 'should return unsigned value for second secret', @fastify/cookie 'signer.unsign tries to decode using all keys': every listed secret verifies, the first signs, a dropped one no longer verifies", async () => {
    const byOld = await signed(OLD, 'abc');
    const byOther = await signed(OTHER, 'abc');
    const rotated = [SECRET, OTHER, OLD];
    assert.equal((await read(rotated, byOld)).value, 'abc');
    assert.equal((await read(rotated, byOther)).value, 'abc');
    // The first secret signs: what the rotated app sets, an app of the first secret alone reads, and one of the old secret does not.
    const byRotated = await signed(rotated, 'abc');
    assert.equal((await read(SECRET, byRotated)).value, 'abc');
    assert.equal((await read(OLD, byRotated)).value, null);
    // The old secret dropped from the list: what it signed reads as absent.
    assert.equal((await read([SECRET, OTHER], byOld)).value, null);
  });

  test("cookie-signature 'should reject malformed cookies': garbage before, after, and around a separator, an empty value, a signature alone", async () => {
    const pair = await signed(SECRET, 'real data');
    const value = decodeURIComponent(pair.slice('c='.length));
    const signature = value.slice(value.lastIndexOf('.') + 1);
    const malformed = ['fake unsigned data', `garbage${value}`, `garbage.${value}`, `${value}.garbage`, `${value}garbage`, '', '.', signature, `.${signature}`, `..${signature}`];
    for (const forged of malformed) {
      const body = await read(SECRET, `c=${encodeURIComponent(forged)}`);
      assert.equal(body.value, null, JSON.stringify(forged));
      assert.equal(body.raw, forged, 'the raw cookie is still there, as sent');
    }
    assert.equal((await read(SECRET, pair)).value, 'real data');
  });

  test("cookie-signature 'should unsign the cookie' with the separator in the value: a value shaped like a signed one reads back whole, and its time is when the app signed it", async (t) => {
    // An old, once-valid signed value, fed back to be signed again: its stale
    // timestamp and signature are part of the new value, never read as the stamp.
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000_000_000 });
    const stale = decodeURIComponent((await signed(SECRET, 'admin')).slice('c='.length));
    t.mock.timers.setTime(1_000_000_000_000 + 86_400_000);
    const again = await signed(SECRET, stale);
    assert.equal((await read(SECRET, again, 60)).value, stale);
    assert.equal((await read(SECRET, `c=${encodeURIComponent(stale)}`, 60)).value, null, 'a day old: past maxAge');
    for (const value of ['a.b', '.', '..', 'x.', '.x', 'a.1.b', 'a%2Eb', 'v.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      assert.equal((await read(SECRET, await signed(SECRET, value))).value, value, JSON.stringify(value));
    }
  });

  test("cookie-parser 'should omit invalid signatures' and 'should return false for tampered signed string': absent (undefined), never false, never an error; request.cookies keeps it raw", async () => {
    const pair = await signed(SECRET, 'foobarbaz');
    const tampered = pair.replace('foobarbaz', 'foobarbaZ');
    const response = await client(SECRET).get('/read', { headers: { cookie: tampered } });
    assert.equal(response.status, 200);
    const body = await response.json<{ value: string | null; raw: string | null }>();
    assert.equal(body.value, null);
    assert.match(body.raw!, /^foobarbaZ\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
  });

  test("cookie-parser 'should inflate JSON cookies': Coda has no JSON cookies, a 'j:' value reads back as the string it is", async () => {
    const json = 'j:{"foo":"bar"}';
    assert.equal((await read(SECRET, await signed(SECRET, json))).value, json);
  });

  test('a signed cookie of exactly 4096 bytes of name and value crosses the wire and reads back; one byte more is refused where it is set', async () => {
    const app = signingApp(SECRET);
    const server = await startServer(app);
    try {
      // 'c' plus the value plus its timestamp and signature: 4096 bytes in all.
      const probe = (await rawRequest(server, rawGet('/sign?value=x'))).headers['set-cookie']!.split(';')[0]!;
      // 'x' is one byte of the 4096, 'é' six (percent-encoded): the value grows by what is missing.
      const value = `é${'x'.repeat(4096 - (Buffer.byteLength(probe) - 1) + 1 - 6)}`;
      const response = await rawRequest(server, rawGet(`/sign?value=${encodeURIComponent(value)}`));
      assert.equal(response.status, 200);
      const pair = response.headers['set-cookie']!.split(';')[0]!;
      assert.equal(Buffer.byteLength(pair) - 1, 4096);
      const back = await rawRequest(server, rawGet('/read', { cookie: pair }));
      assert.equal(JSON.parse(back.body.toString()).value, value);
      assert.throws(() => new HttpResponse('').setCookie('c', `${value}x`, { signed: true }), /^TypeError: response\.setCookie\(\): cookie c: its name and value come to 4097 bytes as sent, signed/);
    } finally {
      await server.close();
    }
  });

  test("cookie-signature's timing-safe comparison: a forged signature is compared in constant time, with every secret", async (t) => {
    const compare = t.mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      compare.mock.restore();
      syncBuiltinESMExports();
    });
    const pair = await signed([SECRET, OTHER, OLD], 'hello');
    const forged = `${pair.slice(0, -1)}${pair.endsWith('A') ? 'B' : 'A'}`;
    compare.mock.resetCalls();
    assert.equal((await read([SECRET, OTHER, OLD], forged)).value, null);
    assert.equal(compare.mock.callCount(), 3);
    const given = decodeURIComponent(forged).slice(-43);
    for (const call of compare.mock.calls) assert.ok(call.arguments.some((side) => Buffer.from(side as Uint8Array).toString() === given));
  });

  test("@fastify/cookie 'Signer needs a string or Buffer as secret' and Django's SECRET_KEY check (security.W009): a secret under 32 characters, in the list too, is taken with a warning (Django's check warns); a Buffer or one with a lone surrogate is refused at createApp; the secret never in either message", async () => {
    const short = 'hunter2-is-a-secret-of-31-chars';
    assert.equal(short.length, 31);
    const warned: [unknown, RegExp][] = [
      [short, /^createApp\(\): secret is 31 characters long: one that short can be guessed offline from any signed cookie; use 32 or more random characters/],
      [[SECRET, short], /^createApp\(\): secret #2 of the list is 31 characters long: one that short can be guessed offline from any signed cookie/],
    ];
    for (const [secret, message] of warned) {
      const { logger, lines } = memoryLogger();
      const app = createApp({ logger, secret: secret as string, routes: [get('/sign', () => new HttpResponse('ok').setCookie('s', 'v', { signed: true }))] });
      const warnings = lines.filter((line) => line.level === 40);
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]!.msg), message);
      assert.ok(!String(warnings[0]!.msg).includes('hunter2'), String(warnings[0]!.msg));
      // Taken: it signs.
      assert.match((await createTestClient(app).get('/sign')).headers.get('set-cookie') ?? '', /^s=v\./);
    }
    const { logger, lines } = memoryLogger();
    createApp({ logger, secret: `${short}!` });
    assert.deepEqual(lines.filter((line) => line.level === 40), [], '32 characters are enough');
    const refused: [unknown, RegExp][] = [
      // Two such secrets would be one key: UTF-8 has no bytes for half a surrogate pair and writes U+FFFD for it.
      [`${SECRET}\ud800`, /^createApp\(\): secret is not well-formed Unicode \(a lone surrogate\), which has no UTF-8 to make a key of: two such secrets would be one key$/],
      [Buffer.from(SECRET), /^createApp\(\): secret must be a non-empty string or a non-empty list of them \(the first signs, all verify\), got an instance of Buffer$/],
    ];
    for (const [secret, message] of refused) {
      assert.throws(() => createApp({ secret: secret as string }), (error: Error) => {
        assert.equal(error.name, 'TypeError');
        assert.match(error.message, message);
        assert.ok(!error.message.includes(SECRET), error.message);
        return true;
      });
    }
  });

  test('the list of secrets is read once, at createApp: changing the array afterwards changes neither which secret signs nor which verify', async () => {
    const secrets = [SECRET, OLD];
    await using rotated = createTestClient(signingApp(secrets), { transport: 'socket' });
    secrets[0] = OTHER;
    secrets.length = 1;
    const pair = (await rotated.get('/sign?value=v')).headers.getSetCookie()[0]!.split(';')[0]!;
    assert.equal((await read(SECRET, pair)).value, 'v');
    const byOld = await signed(OLD, 'w');
    assert.equal((await (await rotated.get('/read', { headers: { cookie: byOld } })).json<{ value: string | null }>()).value, 'w');
  });
});
