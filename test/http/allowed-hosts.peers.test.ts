// allowedHosts against Django's own host validation cases
// (tests/requests_tests/tests.py, HostValidationTests: its ALLOWED_HOSTS, its
// legit and poisoned hosts), each sent as the Host line over a real socket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp, get, HttpResponse, type Server } from 'coda-http';
import { memoryLogger, rawRequest, startServer } from '../helpers.js';

const POISONED = ['example.com@evil.tld', 'example.com:dr.frankenstein@evil.tld', 'example.com:dr.frankenstein@evil.tld:80', 'example.com:80/badpath', 'example.com: recovermypassword.com'];
/** Each poisoned host as the 400 names it: a password in its user information REDACTED (it is logged and answered). */
const SHOWN = ['example.com@evil.tld', 'example.com:REDACTED@evil.tld', 'example.com:REDACTED@evil.tld:80', 'example.com:80/badpath', 'example.com: recovermypassword.com'];

/** A server for `allowedHosts` whose view answers request.host; `host()` sends one GET with that Host line (and `extra` lines). */
function hostServer(allowedHosts: string[]) {
  let server: Server;
  before(async () => {
    const app = createApp({ logger: memoryLogger().logger, allowedHosts, routes: [get('/', (request) => new HttpResponse(`${request.host}`))] });
    server = await startServer(app, { host: '127.0.0.1' });
  });
  after(() => server.close({ timeoutMs: 1_000 }));
  return async (host: string, extra: string[] = []): Promise<[number, string]> => {
    const response = await rawRequest(server, ['GET / HTTP/1.1', `Host: ${host}`, 'Connection: close', ...extra, '', ''].join('\r\n'));
    return [response.status, response.body.toString()];
  };
}

describe("Django's HostValidationTests", () => {
  const host = hostServer(['forward.com', 'example.com', 'internal.com', '12.34.56.78', '[2001:19f0:feee::dead:beef:cafe]', 'xn--4ca9at.com', '.multitenant.com', 'INSENSITIVE.com', '[::ffff:169.254.169.254]']);

  test("'test_http_get_host': its legit hosts are served as sent; its poisoned hosts, and other.com, are a 400 naming the host", async () => {
    const legit = ['example.com', 'example.com:80', '12.34.56.78', '12.34.56.78:443', '[2001:19f0:feee::dead:beef:cafe]', '[2001:19f0:feee::dead:beef:cafe]:8080', 'xn--4ca9at.com', 'anything.multitenant.com', 'multitenant.com', 'insensitive.com', 'example.com.', 'example.com.:80', '[::ffff:169.254.169.254]'];
    for (const name of legit) assert.deepEqual(await host(name), [200, name], name);
    // They are no host at all (RFC 9112 3.2), allowedHosts or not: Django's DisallowedHost for an invalid HTTP_HOST.
    for (const [i, name] of POISONED.entries()) {
      const said = (await host(name)).join(' ');
      assert.ok(said.startsWith(`400 the Host ${JSON.stringify(SHOWN[i])} is not a valid host name with an optional port`), said);
    }
    assert.deepEqual(await host('other.com'), [400, 'the host "other.com" is not one this app serves (createApp\'s allowedHosts)']);
  });

  test("'test_http_get_host' with USE_X_FORWARDED_HOST=False: X-Forwarded-Host from a client not trusted is not the host (Coda: no trustProxy)", async () => {
    assert.deepEqual(await host('example.com', ['X-Forwarded-Host: forward.com']), [200, 'example.com']);
    assert.deepEqual(await host('evil.tld', ['X-Forwarded-Host: forward.com']), [400, 'the host "evil.tld" is not one this app serves (createApp\'s allowedHosts)']);
  });
});

describe("Django's HostValidationTests with ALLOWED_HOSTS = ['*'] ('test_host_validation_in_debug_mode', 'test_get_host_suggestion_of_allowed_host')", () => {
  const host = hostServer(['*']);

  test('any host name is served; the poisoned ones are still a 400', async () => {
    for (const name of ['other.com', 'example.com:8080', '[::1]']) assert.deepEqual(await host(name), [200, name], name);
    for (const name of POISONED) assert.equal((await host(name))[0], 400, name);
  });
});
