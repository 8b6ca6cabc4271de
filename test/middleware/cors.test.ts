import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { cors, createApp, get, HttpResponse, NotFound, post, StreamingResponse, type CorsOptions } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { rawRequest, serveForSuite } from '../helpers.js';

const APP_ORIGIN = 'https://app.example';

function corsClient(options: CorsOptions | undefined) {
  const app = createApp({
    middleware: [cors(options)],
    routes: [
      get('/notes', () => new HttpResponse('notes', { headers: { 'x-total': '3' } })),
      post('/notes', () => new HttpResponse('created', { status: 201 })),
      get('/missing', () => {
        throw new NotFound('no such note');
      }),
    ],
  });
  const client = createTestClient(app, { transport: 'socket' });
  after(() => client.close());
  return client;
}

const preflight = (origin: string, method = 'POST', headers?: string) => ({
  headers: { origin, 'access-control-request-method': method, ...(headers === undefined ? {} : { 'access-control-request-headers': headers }) },
});

describe('cors() with a list of origins and credentials', () => {
  const client = corsClient({ origins: [APP_ORIGIN], credentials: true, exposeHeaders: ['X-Total'], maxAge: 600 });

  test('a preflight from an allowed origin is answered 204 with the allowed methods, headers and max age', async () => {
    const res = await client.request('OPTIONS', '/notes', preflight(APP_ORIGIN, 'POST', 'content-type, x-csrf-token'));
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, PUT, PATCH, POST, DELETE');
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type, x-csrf-token');
    assert.equal(res.headers.get('access-control-max-age'), '600');
    assert.equal(res.headers.get('vary'), 'Origin, Access-Control-Request-Headers');
    assert.equal(res.body.length, 0);
  });

  test('a preflight from another origin gets no CORS headers: the browser blocks it', async () => {
    const res = await client.request('OPTIONS', '/notes', preflight('https://evil.example'));
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-allow-methods'), null);
    assert.equal(res.headers.get('vary'), 'Origin');
  });

  test('an actual request from an allowed origin: Allow-Origin echoed, credentials, exposed headers, Vary: Origin', async () => {
    const res = await client.get('/notes', { headers: { origin: APP_ORIGIN } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-expose-headers'), 'X-Total');
    assert.equal(res.headers.get('vary'), 'Origin');
  });

  test('a response shared by many requests (a module-level constant): the origin allowed for one is never sent to the next, another origin or a same-origin request (it was written on the shared response, credentials with it)', async () => {
    const shared = new HttpResponse('shared');
    const other = 'https://other.example';
    const app = createApp({
      middleware: [cors({ origins: [APP_ORIGIN, other], credentials: true })],
      routes: [get('/shared', () => shared), get('/stream', () => new StreamingResponse((async function* () {
        yield 's';
      })()))],
    });
    await using sharing = createTestClient(app, { transport: 'socket' });
    const allowOrigin = async (origin?: string) => {
      const res = await sharing.get('/shared', { headers: origin === undefined ? {} : { origin } });
      assert.equal(await res.text(), 'shared');
      return [res.headers.get('access-control-allow-origin'), res.headers.get('access-control-allow-credentials')];
    };
    assert.deepEqual(await allowOrigin(APP_ORIGIN), [APP_ORIGIN, 'true']);
    assert.deepEqual(await allowOrigin('https://evil.example'), [null, null]);
    assert.deepEqual(await allowOrigin(), [null, null]);
    assert.deepEqual(await allowOrigin(other), [other, 'true']);
    assert.deepEqual(await allowOrigin(APP_ORIGIN), [APP_ORIGIN, 'true']);
    assert.equal(shared.headers.get('access-control-allow-origin'), null, 'the shared response is left without it');
    assert.equal(shared.headers.get('vary'), 'Origin', 'what every request gets alike stays on it');
    const streamed = await sharing.get('/stream', { headers: { origin: APP_ORIGIN } });
    assert.equal(streamed.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.equal(await streamed.text(), 's');
  });

  test('an error response carries the headers too, so the page can read it', async () => {
    const res = await client.get('/missing', { headers: { origin: APP_ORIGIN } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
  });

  test('another origin, or one that differs by a trailing slash, scheme or port, gets nothing but Vary', async () => {
    for (const origin of ['https://evil.example', 'http://app.example', 'https://app.example:8443', 'https://app.example.evil.example', 'null']) {
      const res = await client.get('/notes', { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), null, origin);
      assert.equal(res.headers.get('vary'), 'Origin');
    }
  });

  test('a same-origin request (no Origin) gets Vary: Origin only, so caches keep the two apart', async () => {
    const res = await client.get('/notes');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('vary'), 'Origin');
  });

  test('a plain OPTIONS (not a preflight) goes on to the router: 204 with Allow', async () => {
    const res = await client.request('OPTIONS', '/notes', { headers: { origin: APP_ORIGIN } });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
  });
});

describe("cors() with '*'", () => {
  const client = corsClient({ origins: '*' });

  test("any origin reads the response; '*' is sent, without Vary", async () => {
    const res = await client.get('/notes', { headers: { origin: 'https://anyone.example' } });
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
    assert.equal(res.headers.get('vary'), null);
  });

  test("a request without Origin gets '*' too, so a shared cache that kept it (there is no Vary) hands other origins a response they may read", async () => {
    const res = await client.get('/notes');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('vary'), null);
    assert.equal((await client.get('/missing')).headers.get('access-control-allow-origin'), '*');
  });

  test('a preflight is answered; requested headers that are not names are not echoed', async () => {
    const ok = await client.request('OPTIONS', '/notes', preflight('https://anyone.example', 'PUT', 'x-a'));
    assert.equal(ok.headers.get('access-control-allow-origin'), '*');
    assert.equal(ok.headers.get('access-control-allow-headers'), 'x-a');
    const bad = await client.request('OPTIONS', '/notes', preflight('https://anyone.example', 'PUT', 'x-a, bad header'));
    assert.equal(bad.headers.get('access-control-allow-headers'), null);
  });

  test('cors() without options is the same', async () => {
    const plain = corsClient(undefined);
    assert.equal((await plain.get('/notes', { headers: { origin: 'https://x.example' } })).headers.get('access-control-allow-origin'), '*');
  });
});

describe('cors() with a function and fixed headers and methods', () => {
  const asked: string[] = [];
  const client = corsClient({
    origins: async (origin) => {
      asked.push(origin);
      return origin.endsWith('.trusted.example');
    },
    credentials: true,
    methods: ['get', 'POST'],
    headers: ['Content-Type'],
  });

  test('the function decides, for preflights and actual requests', async () => {
    const res = await client.request('OPTIONS', '/notes', preflight('https://a.trusted.example', 'POST', 'x-other'));
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://a.trusted.example');
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST');
    assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type');
    assert.equal(res.headers.get('vary'), 'Origin');
    const denied = await client.post('/notes', { headers: { origin: 'https://trusted.example.evil' } });
    assert.equal(denied.status, 201);
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    assert.deepEqual(asked, ['https://a.trusted.example', 'https://trusted.example.evil']);
  });
});

describe('cors() with a function, given an Origin that is not one origin', () => {
  const asked: string[] = [];
  const app = createApp({
    middleware: [cors({ origins: (origin) => (asked.push(origin), origin === 'null' || origin.endsWith('.trusted.example')), credentials: true })],
    routes: [get('/notes', () => new HttpResponse('notes'))],
  });
  const served = serveForSuite(app);

  test('two Origin lines (joined as a, b), a path or a space: the function is not asked and nothing is allowed, so no such value is sent back as Allow-Origin; "null" is asked', async () => {
    const twoLines = 'GET /notes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nOrigin: https://a.trusted.example\r\nOrigin: https://b.trusted.example\r\n\r\n';
    const answers = [
      await rawRequest(served.server, twoLines),
      await served.raw('/notes', { origin: 'https://a.trusted.example/path.trusted.example' }),
      await served.raw('/notes', { origin: 'https://evil.example x.trusted.example' }),
      await served.raw('/notes', { origin: 'https://a.trusted.example, https://b.trusted.example', 'access-control-request-method': 'GET' }, 'OPTIONS'),
    ];
    for (const answer of answers) {
      assert.equal(answer.headers['access-control-allow-origin'], undefined, answer.raw.toString('latin1'));
      assert.equal(answer.headers['access-control-allow-credentials'], undefined);
      assert.equal(answer.headers.vary, 'Origin');
    }
    for (const origin of ['https://a.trusted.example', 'null']) {
      assert.equal((await served.raw('/notes', { origin })).headers['access-control-allow-origin'], origin);
    }
    assert.deepEqual(asked, ['https://a.trusted.example', 'null']);
  });
});

describe('cors() with a function returning a thenable that is not a native Promise', () => {
  const client = corsClient({
    origins: (origin) => ({ then: (resolve: (yes: boolean) => void) => resolve(origin === APP_ORIGIN) }) as unknown as Promise<boolean>,
    credentials: true,
    exposeHeaders: ['X-Total'],
  });

  test('it is awaited like a promise: credentials and exposed headers come with Allow-Origin, and a preflight is answered', async () => {
    const res = await client.get('/notes', { headers: { origin: APP_ORIGIN } });
    assert.equal(res.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(res.headers.get('access-control-expose-headers'), 'X-Total');
    const pre = await client.request('OPTIONS', '/notes', preflight(APP_ORIGIN));
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, HEAD, PUT, PATCH, POST, DELETE');
    const denied = await client.get('/notes', { headers: { origin: 'https://x.example' } });
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
  });
});

describe('cors() refuses bad configuration', () => {
  const cases: [CorsOptions, RegExp, string?][] = [
    [{ origins: '*', credentials: true }, /^cors\(\): origins '\*' with credentials: true is refused: browsers reject it, and answering every origin with credentials would let any site read your users' data; list the origins, or pass a function that checks them$/],
    [{ credentials: true }, /origins '\*' with credentials: true is refused/],
    [{ origins: ['https://app.example/'] }, /^cors\(\): origins\[0\] is not an origin \(scheme:\/\/host\[:port\], no path, no trailing slash\): string "https:\/\/app\.example\/"$/],
    [{ origins: ['https://ok.example', 'app.example'] }, /^cors\(\): origins\[1\] is not an origin/],
    [{ origins: ['https://app.example/path'] }, /origins\[0\] is not an origin/],
    [{ origins: 'https://app.example' as '*' }, /^cors\(\): origins must be a list of origins, '\*' or a function, got string "https:\/\/app\.example"$/],
    [{ credentials: 'yes' as unknown as boolean }, /^cors\(\): credentials must be true or false, got string "yes"$/],
    [{ methods: ['GET', 'BAD METHOD'] }, /^cors\(\): methods must be a list of names \(tokens\)/],
    [{ exposeHeaders: 'X-Total' as unknown as string[] }, /^cors\(\): exposeHeaders must be a list of names/],
    [{ maxAge: -5 }, /^cors\(\): maxAge must be a whole number of seconds, got number -5$/, 'RangeError'],
    [{ origin: ['https://app.example'] } as CorsOptions, /^cors\(\): unknown option "origin"; did you mean "origins"\?$/],
  ];
  for (const [options, message, name = 'TypeError'] of cases) {
    test(JSON.stringify(options), () => assert.throws(() => cors(options), { name, message }));
  }
});
