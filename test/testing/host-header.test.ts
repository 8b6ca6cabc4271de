// The Host a request names, as request.host reads it and as RFC 9112 3.2 refuses it, on both transports: the
// in-process client must answer as the real server does. Cases from Django's HostValidationTests
// (tests/requests_tests/tests.py) and Go's TestServerValidatesHostHeader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

/** For an app answering request.host, a function giving the status and body each transport answers to a GET with a Host; in-process first. */
function askingBoth(allowedHosts?: string[]): { ask: (host: string) => Promise<[number, string][]>; [Symbol.asyncDispose]: () => Promise<void> } {
  const app = createApp({ allowedHosts, routes: [get('/', (request) => new HttpResponse(`host ${request.host}`))] });
  const clients = [createTestClient(app, { transport: 'in-process' }), createTestClient(app, { transport: 'socket' })];
  return {
    ask: (host) => Promise.all(clients.map(async (client) => {
      const response = await client.get('/', { headers: { host } });
      return [response.status, await response.text()] as [number, string];
    })),
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

test('a valid Host is request.host in lower case, its port kept; one RFC 3986 takes that is no DNS name (foo_bar.com, empty) is served as no host; alike on both transports', async () => {
  const cases: [sent: string, host: string][] = [
    ['example.com', 'example.com'],
    ['EXAMPLE.com:8000', 'example.com:8000'],
    ['example.com.', 'example.com.'],
    ['example.com.:80', 'example.com.:80'],
    ['12.34.56.78:443', '12.34.56.78:443'],
    ['[::1]:8080', '[::1]:8080'],
    ['[2001:19f0:feee::dead:beef:cafe]', '[2001:19f0:feee::dead:beef:cafe]'],
    ['xn--4ca9at.com', 'xn--4ca9at.com'],
    ['example.com:65535', 'example.com:65535'],
    ['foo-bar_baz.com', 'undefined'],
    ['', 'undefined'],
  ];
  await using both = askingBoth();
  for (const [sent, host] of cases) {
    assert.deepEqual(await both.ask(sent), [[200, `host ${host}`], [200, `host ${host}`]], JSON.stringify(sent));
  }
});

test('a Host that is no host name with an optional port is a 400 naming it, with or without allowedHosts, alike on both transports (RFC 9112 3.2; Node served it, request.host undefined)', async () => {
  const invalid = (host: string): string => `the Host ${JSON.stringify(host)} is not a valid host name with an optional port (RFC 9112 3.2)`;
  const cases: [sent: string, body: string][] = [
    ['exa mple.com', invalid('exa mple.com')],
    ['example.com/x', invalid('example.com/x')],
    ['example.com:80/badpath', invalid('example.com:80/badpath')],
    ['example.com:abc', invalid('example.com:abc')],
    ['example.com: recovermypassword.com', invalid('example.com: recovermypassword.com')],
    ['first, second', invalid('first, second')],
    ['{', invalid('{')],
    ['::1', invalid('::1')],
    ['example.com@evil.tld', 'the Host "example.com@evil.tld" is not a valid host name with an optional port: user information is refused (RFC 9110 4.2.4)'],
    ['example.com:99999', 'the Host "example.com:99999" is not a valid host name with an optional port: 99999 is past the last port, 65535'],
  ];
  for (const allowedHosts of [undefined, ['*']]) {
    await using both = askingBoth(allowedHosts);
    for (const [sent, body] of cases) {
      assert.deepEqual(await both.ask(sent), [[400, body], [400, body]], `${JSON.stringify(sent)}, allowedHosts ${JSON.stringify(allowedHosts)}`);
    }
  }
});
