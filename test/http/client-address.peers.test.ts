// Client-address cases ported from peers' own suites, over real sockets:
// jshttp/proxy-addr (test/test.js), Express (test/req.ip.js, req.ips.js,
// req.protocol.js, req.host.js), Fastify (test/trust-proxy.test.js), and the
// examples of RFC 7239 (Forwarded). Each test names its source.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp, get, JsonResponse, type HttpRequest, type Server, type ServeOptions, type TrustProxy } from 'coda-http';
import { canListen, rawGet, rawRequest, startServer } from '../helpers.js';

const who = (request: HttpRequest) => new JsonResponse({ ip: request.ip ?? null, ips: request.ips, protocol: request.protocol, host: request.host ?? null });

/** A server trusting `trustProxy`, asked over a real socket with the given headers. */
function serverTrusting(trustProxy: TrustProxy, listen: ServeOptions = { host: '127.0.0.1' }) {
  let server: Server;
  before(async () => {
    server = await startServer(createApp({ trustProxy, routes: [get('/who', who)] }), listen);
  });
  after(() => server.close());
  return async (headers: Record<string, string>) => {
    const lines = ['GET /who HTTP/1.1', 'Host: localhost:8080', 'Connection: close', ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
    const res = await rawRequest(server, lines.join('\r\n') + '\r\n\r\n');
    assert.equal(res.status, 200, res.body.toString());
    return JSON.parse(res.body.toString()) as { ip: string | null; ips: string[]; protocol: string; host: string | null };
  };
}

describe('trustProxy, as proxy-addr, Express and Fastify test it', { timeout: 10_000 }, () => {
  describe('a list of addresses and ranges', () => {
    const ask = serverTrusting(['127.0.0.1', '10.0.0.0/8']);

    test("proxy-addr 'should return first untrusted after trusted', 'should not skip untrusted'", async () => {
      assert.equal((await ask({ 'x-forwarded-for': '192.168.0.1, 10.0.0.2' })).ip, '192.168.0.1');
      const past = await ask({ 'x-forwarded-for': '10.0.0.3, 192.168.0.1, 10.0.0.2' });
      assert.equal(past.ip, '192.168.0.1');
      assert.deepEqual(past.ips, ['192.168.0.1', '10.0.0.2']);
    });

    test("proxy-addr 'should stop at first non-ip after trusted', '... malformed ip ...': the walk ends, and ip stays an address", async () => {
      for (const entry of ['proxy', '::8:8:8:8:8:8:8:8:8', 'localhost', '10.0.300.1']) {
        const seen = await ask({ 'x-forwarded-for': `myrouter, 127.0.0.1, ${entry}` });
        assert.equal(seen.ip, '127.0.0.1', entry);
        assert.deepEqual(seen.ips, [], entry);
      }
    });

    test("proxy-addr 'should match IPv4 trust to IPv6 request': an IPv4-mapped IPv6 hop is the IPv4 address", async () => {
      assert.equal((await ask({ 'x-forwarded-for': '192.168.0.1, ::ffff:10.0.0.2' })).ip, '192.168.0.1');
    });

    test("Fastify 'trust proxy IP addresses': the walk stops at the first untrusted hop; the host is the proxy's", async () => {
      const seen = await ask({ 'x-forwarded-for': '3.3.3.3, 2.2.2.2, 1.1.1.1', 'x-forwarded-host': 'fastify.test:1234' });
      assert.deepEqual(seen, { ip: '1.1.1.1', ips: ['1.1.1.1'], protocol: 'http', host: 'fastify.test:1234' });
    });
  });

  test("proxy-addr 'should match IPv4 trust to IPv6 request': a peer at ::ffff:127.0.0.1 is trusted as 127.0.0.1", async (t) => {
    if (!(await canListen('::'))) return t.skip('no IPv6 here');
    const server = await startServer(createApp({ trustProxy: ['127.0.0.1'], routes: [get('/who', who)] }), { host: '::' });
    t.after(() => server.close());
    const ask = async (headers: Record<string, string>) => JSON.parse((await rawRequest(server, rawGet('/who', headers))).body.toString()) as { ip: string; protocol: string };
    assert.equal((await ask({})).ip, '::ffff:127.0.0.1');
    assert.deepEqual(await ask({ 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }), { ip: '203.0.113.7', ips: ['203.0.113.7'], protocol: 'https', host: 'localhost' });
  });

  describe('a number of hops', () => {
    const ask = serverTrusting(1);
    test("Express req.protocol and req.host 'when trusting hop count': the nearest proxy's X-Forwarded-Proto and -Host", async () => {
      const seen = await ask({ 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' });
      assert.equal(seen.protocol, 'https');
      assert.equal(seen.host, 'example.com');
      assert.equal(seen.ip, '127.0.0.1');
    });
    test("Express req.ip 'should return the addr after trusted proxy based on count'", async () => {
      const seen = await ask({ 'x-forwarded-for': 'client, p1, 203.0.113.9' });
      assert.equal(seen.ip, '203.0.113.9');
    });
  });

  describe('RFC 7239 Forwarded, every hop trusted', () => {
    const ask = serverTrusting(true);
    test('section 4 examples: quoted IPv6 with a port, parameter names in any case, several elements', async () => {
      assert.equal((await ask({ forwarded: 'For="[2001:db8:cafe::17]:4711"' })).ip, '2001:db8:cafe::17');
      const seen = await ask({ forwarded: 'for=192.0.2.43, for=198.51.100.17;proto=https;host=a.example' });
      assert.equal(seen.ip, '192.0.2.43');
      assert.deepEqual(seen.ips, ['192.0.2.43', '198.51.100.17']);
      assert.equal((await ask({ forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' })).ip, '192.0.2.60');
    });
    test('an obfuscated or unknown client ends the walk at the last address', async () => {
      assert.equal((await ask({ forwarded: 'for="_gazonk", for=198.51.100.17' })).ip, '198.51.100.17');
      assert.equal((await ask({ forwarded: 'for=unknown' })).ip, '127.0.0.1');
    });
  });
});
