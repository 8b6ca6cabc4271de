// `allowedHosts` (Django's ALLOWED_HOSTS, its host validation cases in
// tests/requests_tests): over a real socket, since the Host line is the point.
import assert from 'node:assert/strict';
import { after as afterAll, before, describe, test } from 'node:test';
import { after, createApp, get, HttpResponse, type Middleware, type Server, type TrustProxy } from 'coda-http';
import { rawRequest, startServer } from '../helpers.js';

interface Seen {
  middleware: number;
  tasks: number;
}

/** A server with these allowedHosts; `ask` sends one request for `target` with the given Host line (none for `null`, HTTP/1.0 then). */
function serving(allowedHosts: string[], trustProxy?: TrustProxy) {
  let server: Server;
  const seen: Seen = { middleware: 0, tasks: 0 };
  const counting: Middleware = { processRequest: () => void seen.middleware++ };
  before(async () => {
    const app = createApp({
      allowedHosts,
      trustProxy,
      middleware: [counting],
      routes: [get('/', (request) => {
        after(() => void seen.tasks++);
        return new HttpResponse(`served ${request.host}`);
      })],
    });
    server = await startServer(app, { host: '127.0.0.1' });
  });
  afterAll(() => server.close());
  const ask = async (host: string | null, headers: Record<string, string> = {}, target = '/') => {
    const version = host === null ? 'HTTP/1.0' : 'HTTP/1.1';
    const lines = [`GET ${target} ${version}`, ...(host === null ? [] : [`Host: ${host}`]), 'Connection: close', ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
    const res = await rawRequest(server, `${lines.join('\r\n')}\r\n\r\n`);
    return { status: res.status, body: res.body.toString() };
  };
  return { ask, seen };
}

describe('allowedHosts: exact names', () => {
  const { ask, seen } = serving(['example.com', '[::1]', '12.34.56.78']);

  test('an allowed host is served whatever its case, port or trailing dot', async () => {
    for (const host of ['example.com', 'EXAMPLE.com', 'example.com:8000', 'example.com.', '[::1]:3000', '12.34.56.78']) {
      const { status, body } = await ask(host);
      assert.equal(status, 200, `${host}: ${body}`);
    }
  });

  test('another host is a 400 naming it, before any middleware, and no task of it runs', async () => {
    const before = { ...seen };
    for (const host of ['evil.com', 'sub.example.com', 'example.com.evil.com', 'anything.example.com:8000', '[::2]']) {
      const { status, body } = await ask(host);
      assert.equal(status, 400, host);
      assert.match(body, /is not one this app serves \(createApp's allowedHosts\)/);
      assert.ok(body.includes(JSON.stringify(host.toLowerCase())), body);
    }
    assert.deepEqual(seen, before);
  });

  test('no Host, or one that is not a host name: a 400 that says which', async () => {
    const missing = await ask(null);
    assert.equal(missing.status, 400);
    assert.match(missing.body, /names no host/);
    for (const host of ['example.com@evil.com', 'exa mple.com', 'example.com/path', 'foo_bar.com', '']) {
      const { status, body } = await ask(host);
      assert.equal(status, 400, host);
      assert.match(body, new RegExp(`^the Host ${JSON.stringify(host)} is not a valid host name`), host);
    }
  });

  test("an absolute-form target's host is the one checked, and a 400 for it names it, not the Host line", async () => {
    assert.equal((await ask('evil.com', {}, 'http://example.com/')).status, 200);
    const other = await ask('example.com', {}, 'http://evil.example/');
    assert.equal(other.status, 400);
    assert.match(other.body, /^the host "evil\.example" is not one this app serves/);
    const withUser = await ask('example.com', {}, 'http://user@evil.example/');
    assert.equal(withUser.status, 400);
    assert.equal(withUser.body, 'the host "user@evil.example" of the request target "http://user@evil.example/" is not a valid host name with an optional port: user information is refused (RFC 9110 4.2.4)');
    const spaced = await ask('example.com', {}, 'http://exa%20mple.com/');
    assert.match(spaced.body, /^the host "exa%20mple\.com" of the request target "http:\/\/exa%20mple\.com\/" is not a valid host name, and/);
  });
});

describe('allowedHosts: a leading dot takes the domain and its subdomains', () => {
  const { ask } = serving(['.example.com']);

  test('example.com and any depth of subdomain; not a name that merely ends alike', async () => {
    for (const host of ['example.com', 'www.example.com', 'a.b.example.com:443']) assert.equal((await ask(host)).status, 200, host);
    for (const host of ['evilexample.com', 'example.com.evil', 'example.co']) assert.equal((await ask(host)).status, 400, host);
  });
});

describe("allowedHosts: '*' takes any valid host", () => {
  const { ask } = serving(['*']);

  test('any host name is served; a malformed one is still a 400', async () => {
    assert.equal((await ask('whatever.test')).status, 200);
    assert.equal((await ask('exa mple.com')).status, 400);
  });

  test('a Host with an empty port (example.com:, which RFC 3986 3.2.3 allows and Django accepts) is that host without it', async () => {
    // It read as no host: a 400.
    for (const [host, seen] of [['example.com:', 'example.com'], ['Example.COM.:', 'example.com.'], ['[::1]:', '[::1]'], ['12.34.56.78:', '12.34.56.78']]) {
      assert.deepEqual(await ask(host!), { status: 200, body: `served ${seen}` }, host);
    }
    // A port is still digits, and one colon at most.
    for (const host of ['example.com::', 'example.com:x', ':']) assert.equal((await ask(host)).status, 400, host);
  });
});

describe('allowedHosts behind a trusted proxy checks the forwarded host', () => {
  const { ask } = serving(['public.example'], ['loopback']);

  test('X-Forwarded-Host from a trusted proxy is the host checked', async () => {
    assert.equal((await ask('internal:8080', { 'x-forwarded-host': 'public.example' })).status, 200);
    const refused = await ask('public.example', { 'x-forwarded-host': 'evil.example' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /"evil\.example"/);
  });
});

describe('allowedHosts: entries written with a trailing dot (a fully qualified name)', () => {
  const { ask } = serving(['example.com.', '.api.example.']);

  test('are their host and domain, as a request host with one is (they were refused with "did you mean" the same entry)', async () => {
    for (const host of ['example.com', 'example.com.:8000', 'api.example', 'v1.api.example.']) {
      const { status, body } = await ask(host);
      assert.equal(status, 200, `${host}: ${body}`);
    }
    assert.equal((await ask('evil.com')).status, 400);
  });
});

test('createApp refuses allowedHosts it cannot use, saying what to write', () => {
  const cases: [unknown, RegExp][] = [
    ['example.com', /allowedHosts must be a list of host names, got/],
    [[], /allowedHosts is empty, so no request could be served; leave it out to serve any host/],
    [[42], /allowedHosts holds number 42; each entry is a host name, '\.domain' or '\*'/],
    [['https://example.com'], /entry "https:\/\/example\.com" is not a host name: .*did you mean "example\.com"\?/],
    [['example.com:8000'], /entry "example\.com:8000" is not a host name: .*did you mean "example\.com"\?/],
    [['*.example.com'], /entry "\*\.example\.com" is not a host name: .*did you mean "\.example\.com"\? A leading dot/],
    [['exa mple.com'], /entry "exa mple\.com" is not a host name/],
    // No guess that is the entry itself ("did you mean "."?").
    [['.'], /createApp\(\): allowedHosts entry "\." is not a host name: give it without scheme, port or path \(e\.g\. 'example\.com' or '\.example\.com'\)$/],
    [['a..b'], /createApp\(\): allowedHosts entry "a\.\.b" is not a host name: give it without scheme, port or path \(e\.g\. 'example\.com' or '\.example\.com'\)$/],
  ];
  for (const [allowedHosts, message] of cases) {
    assert.throws(() => createApp({ allowedHosts: allowedHosts as string[] }), message, JSON.stringify(allowedHosts));
  }
  assert.throws(() => createApp({ allowedHost: ['example.com'] } as never), /allowedHosts/);
});
