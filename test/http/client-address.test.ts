import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after as afterAll, before, describe, test } from 'node:test';
import { after, createApp, get, JsonResponse, post, sqliteStore, task, type HttpRequest, type Server, type TaskContext, type TrustProxy } from 'coda-http';
import { rawGet, rawRequest, startServer } from '../helpers.js';

const who = (request: HttpRequest) => new JsonResponse({ ip: request.ip ?? null, ips: request.ips, protocol: request.protocol, host: request.host ?? null });

interface Who {
  ip: string | null;
  ips: string[];
  protocol: string;
  host: string | null;
}

/** A server for `trustProxy`, asked over a real socket from 127.0.0.1 with the given headers. */
function serverTrusting(trustProxy: TrustProxy | undefined) {
  let server: Server;
  before(async () => {
    server = await startServer(createApp({ trustProxy, routes: [get('/who', who)] }), { host: '127.0.0.1' });
  });
  afterAll(() => server.close());
  return async (headers: Record<string, string>, host = 'localhost:8080', target = '/who'): Promise<Who> => {
    const lines = [`GET ${target} HTTP/1.1`, ...(host === '' ? [] : [`Host: ${host}`]), 'Connection: close', ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
    const res = await rawRequest(server, lines.join('\r\n') + '\r\n\r\n');
    assert.equal(res.status, 200, res.body.toString());
    return JSON.parse(res.body.toString()) as Who;
  };
}

const SPOOF = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'evil.example',
};

describe('without trustProxy, forwarded headers are ignored', () => {
  const ask = serverTrusting(undefined);

  test('the socket peer is the client, the Host header the host, the socket the protocol', async () => {
    assert.deepEqual(await ask({}), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
  });

  test('spoofed X-Forwarded-* change nothing', async () => {
    assert.deepEqual(await ask(SPOOF), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
  });

  test('a spoofed Forwarded changes nothing', async () => {
    assert.deepEqual(await ask({ forwarded: 'for=203.0.113.7;proto=https;host=evil.example' }), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
  });

  test('a Host RFC 3986 takes that is no DNS name reads as undefined (one that is no host at all is a 400: test/testing/host-header.test.ts)', async () => {
    assert.equal((await ask({}, 'foo_bar.example')).host, null);
    assert.equal((await ask({}, 'a,b')).host, null);
    assert.equal((await ask({}, 'API.Example:8443')).host, 'api.example:8443');
    assert.equal((await ask({}, '[::1]:3000')).host, '[::1]:3000');
  });

  test('an absolute-form target\'s authority is the host, not the Host header (RFC 9112 3.2.2)', async () => {
    assert.equal((await ask({}, 'localhost:8080', 'http://API.example:8443/who?x=1')).host, 'api.example:8443');
    assert.equal((await ask({}, 'localhost:8080', 'http://foo_bar.example/who')).host, null, 'an authority that is no DNS name');
  });
});

describe('trustProxy: false and 0 trust nothing', () => {
  const askFalse = serverTrusting(false);
  const askZero = serverTrusting(0);
  test('both ignore forwarded headers', async () => {
    assert.equal((await askFalse(SPOOF)).ip, '127.0.0.1');
    assert.equal((await askZero(SPOOF)).protocol, 'http');
  });
});

describe('trustProxy: true believes every hop', () => {
  const ask = serverTrusting(true);

  test('X-Forwarded-For: the client is its first entry; ips lists client to nearest proxy', async () => {
    assert.deepEqual(await ask({ 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example' }), {
      ip: '203.0.113.7', ips: ['203.0.113.7', '10.0.0.2'], protocol: 'https', host: 'api.example',
    });
  });

  test('repeated X-Forwarded-For headers are one list', async () => {
    const lines = ['GET /who HTTP/1.1', 'Host: x', 'Connection: close', 'X-Forwarded-For: 203.0.113.7', 'X-Forwarded-For: 10.0.0.2'];
    const server = await startServer(createApp({ trustProxy: true, routes: [get('/who', who)] }));
    try {
      const res = await rawRequest(server, lines.join('\r\n') + '\r\n\r\n');
      assert.deepEqual((JSON.parse(res.body.toString()) as Who).ips, ['203.0.113.7', '10.0.0.2']);
    } finally {
      await server.close();
    }
  });

  test('garbage in X-Forwarded-For ends the walk: never an ip that is not an address', async () => {
    assert.deepEqual(await ask({ 'x-forwarded-for': 'garbage' }), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
    assert.deepEqual((await ask({ 'x-forwarded-for': '198.51.100.1, <script>, 10.0.0.2' })).ips, ['10.0.0.2']);
    assert.equal((await ask({ 'x-forwarded-for': '' })).ip, '127.0.0.1');
    assert.equal((await ask({ 'x-forwarded-for': ',,, ,' })).ip, '127.0.0.1');
    assert.equal((await ask({ 'x-forwarded-for': '999.1.1.1' })).ip, '127.0.0.1');
  });

  test('an empty X-Forwarded-For entry is skipped, as proxy-addr does, not the end of the walk', async () => {
    assert.deepEqual(await ask({ 'x-forwarded-for': '203.0.113.7, , 10.0.0.2', 'x-forwarded-proto': 'https, , http' }), {
      ip: '203.0.113.7', ips: ['203.0.113.7', '10.0.0.2'], protocol: 'https', host: 'localhost:8080',
    });
    assert.deepEqual((await ask({ 'x-forwarded-for': ',203.0.113.7,,10.0.0.2,' })).ips, ['203.0.113.7', '10.0.0.2']);
  });

  test('IPv6 entries, bracketed or not, and ports, are read as addresses', async () => {
    assert.equal((await ask({ 'x-forwarded-for': '2001:db8::1' })).ip, '2001:db8::1');
    assert.equal((await ask({ 'x-forwarded-for': '[2001:db8::1]:4711' })).ip, '2001:db8::1');
    assert.equal((await ask({ 'x-forwarded-for': '203.0.113.7:51234' })).ip, '203.0.113.7');
    assert.equal((await ask({ 'x-forwarded-for': '::ffff:203.0.113.7' })).ip, '::ffff:203.0.113.7');
  });

  test('a forwarded protocol other than http or https, or a host that is not one, is ignored', async () => {
    assert.equal((await ask({ 'x-forwarded-proto': 'ftp' })).protocol, 'http');
    assert.equal((await ask({ 'x-forwarded-proto': 'HTTPS' })).protocol, 'https');
    assert.equal((await ask({ 'x-forwarded-host': 'evil.example/reset?token=' })).host, 'localhost:8080');
    // A port past 65535, as a Host line with one is a 400 (host-field.ts): it was request.host, links built from it led nowhere.
    assert.equal((await ask({ 'x-forwarded-host': 'api.example:99999' })).host, 'localhost:8080');
    assert.equal((await ask({ forwarded: 'for=192.0.2.60;host="api.example:65536"' })).host, 'localhost:8080');
    assert.equal((await ask({ 'x-forwarded-host': 'api.example:65535' })).host, 'api.example:65535');
  });

  test('RFC 7239 Forwarded, when no X-Forwarded-* is sent: for, proto and host of the client-most hop', async () => {
    assert.deepEqual(await ask({ forwarded: 'for=192.0.2.60;proto=https;host=api.example, for="[2001:db8:cafe::17]:4711"' }), {
      ip: '192.0.2.60', ips: ['192.0.2.60', '2001:db8:cafe::17'], protocol: 'https', host: 'api.example',
    });
  });

  test('Forwarded: an unknown or obfuscated hop ends the walk', async () => {
    assert.deepEqual((await ask({ forwarded: 'for=unknown, for=10.0.0.2' })).ips, ['10.0.0.2']);
    assert.deepEqual((await ask({ forwarded: 'for=_hidden, for=10.0.0.2' })).ips, ['10.0.0.2']);
  });

  test('a malformed Forwarded is ignored whole, never a crash', async () => {
    for (const forwarded of ['for=', 'for=1.2.3.4;;', 'for="unterminated', '=x', 'for=1.2.3.4, ,', 'constructor=x']) {
      assert.deepEqual(await ask({ forwarded }), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' }, forwarded);
    }
  });

  test('Forwarded: an element naming a parameter twice (RFC 7239 4) says nothing: its for ends the walk, its proto and host are not read', async () => {
    assert.deepEqual(await ask({ forwarded: 'for=192.0.2.60, for=198.51.100.1;for=10.0.0.2;proto=https;host=api.example' }), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
    assert.deepEqual((await ask({ forwarded: 'for=198.51.100.1;For="203.0.113.9", for=10.0.0.2' })).ips, ['10.0.0.2']);
    const proto = await ask({ forwarded: 'for=10.0.0.2;proto=http;proto=https' });
    assert.deepEqual([proto.ip, proto.protocol], ['127.0.0.1', 'http']);
    // Separators inside a quoted value are no parameter: this element names each once.
    assert.deepEqual((await ask({ forwarded: 'for=192.0.2.60;host="a;for=b,c", for=10.0.0.2' })).ips, ['192.0.2.60', '10.0.0.2']);
  });

  test('X-Forwarded-* wins over Forwarded when both are sent', async () => {
    assert.equal((await ask({ 'x-forwarded-for': '203.0.113.7', forwarded: 'for=192.0.2.60' })).ip, '203.0.113.7');
  });
});

describe('trustProxy as a number of hops', () => {
  const ask = serverTrusting(1);

  test('one hop: the nearest proxy is believed, what the client wrote before it is not', async () => {
    assert.deepEqual(await ask({ 'x-forwarded-for': '198.51.100.99, 203.0.113.7' }), { ip: '203.0.113.7', ips: ['203.0.113.7'], protocol: 'http', host: 'localhost:8080' });
  });

  test('a protocol appended per hop is read at the client-most trusted hop: a client cannot claim https', async () => {
    assert.equal((await ask({ 'x-forwarded-for': '198.51.100.99, 203.0.113.7', 'x-forwarded-proto': 'https, http' })).protocol, 'http');
    assert.equal((await ask({ 'x-forwarded-for': '198.51.100.99, 203.0.113.7', 'x-forwarded-proto': 'http, https' })).protocol, 'https');
  });

  test('a protocol the proxy overwrote (one entry) is read as is', async () => {
    assert.equal((await ask({ 'x-forwarded-for': '198.51.100.99, 203.0.113.7', 'x-forwarded-proto': 'https' })).protocol, 'https');
  });
});

describe('trustProxy as a list of addresses and CIDR ranges', () => {
  const ask = serverTrusting(['loopback', '10.0.0.0/8']);

  test('the walk stops at the first address outside the list: an address the client wrote before it is ignored', async () => {
    assert.deepEqual(await ask({ 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.0.0.2' }), {
      ip: '203.0.113.7', ips: ['203.0.113.7', '10.0.0.2'], protocol: 'http', host: 'localhost:8080',
    });
  });

  test('the same list as a comma-separated string', async () => {
    const server = await startServer(createApp({ trustProxy: 'loopback, 10.0.0.0/8', routes: [get('/who', who)] }));
    try {
      const res = await rawRequest(server, rawGet('/who', { 'x-forwarded-for': '198.51.100.1, 10.0.0.2' }));
      assert.equal((JSON.parse(res.body.toString()) as Who).ip, '198.51.100.1');
    } finally {
      await server.close();
    }
  });
});

describe('trustProxy as a list that does not include the peer', () => {
  const ask = serverTrusting(['10.0.0.0/8']);
  test('forwarded headers from an untrusted peer are ignored', async () => {
    assert.deepEqual(await ask(SPOOF), { ip: '127.0.0.1', ips: [], protocol: 'http', host: 'localhost:8080' });
  });
});

describe('trustProxy as a function', () => {
  const seen: [string, number][] = [];
  const ask = serverTrusting((address, hop) => {
    seen.push([address, hop]);
    return address === '127.0.0.1';
  });
  test('it is asked about each hop, nearest first, and its answer is followed', async () => {
    assert.equal((await ask({ 'x-forwarded-for': '203.0.113.7, 127.0.0.1' })).ip, '203.0.113.7');
    assert.deepEqual(seen, [['127.0.0.1', 0], ['127.0.0.1', 1]]);
    seen.length = 0;
    assert.equal((await ask({ 'x-forwarded-for': '198.51.100.1, 203.0.113.7' })).ip, '203.0.113.7');
    assert.deepEqual(seen, [['127.0.0.1', 0], ['203.0.113.7', 1]]);
  });
});

describe('trustProxy is checked at createApp', () => {
  const cases: [unknown, RegExp][] = [
    [-1, /^createApp\(\): trustProxy as a number is how many proxy hops to trust, a whole number 0 or more, got -1$/],
    [1.5, /how many proxy hops/],
    [['10.0.0.0/33'], /^createApp\(\): trustProxy: invalid range on address: 10\.0\.0\.0\/33$/],
    [['not-an-address'], /^createApp\(\): trustProxy: invalid IP address: not-an-address$/],
    [{}, /^createApp\(\): trustProxy must be true, false, a number of hops, a list of addresses and CIDR ranges, or a function, got a plain object$/],
    [[7], /trustProxy must be true, false/],
  ];
  for (const [value, message] of cases) {
    test(`refuses ${JSON.stringify(value)}`, () => assert.throws(() => createApp({ trustProxy: value as TrustProxy }), { name: 'TypeError', message }));
  }
});

describe('the client address after the response', () => {
  test('an after-response task reads request.ip once Node has let go of the socket', async () => {
    let seen: string | undefined;
    const app = createApp({
      trustProxy: 'loopback',
      routes: [get('/', (request) => {
        after(() => {
          seen = `${request.ip} ${request.protocol} ${request.host}`;
        });
        return new JsonResponse({});
      })],
    });
    const server = await startServer(app);
    try {
      await rawRequest(server, rawGet('/', { 'x-forwarded-for': '203.0.113.7' }));
      await app.settle();
      assert.equal(seen, '203.0.113.7 http localhost');
    } finally {
      await server.close();
    }
  });

  test("a durable task's request snapshot keeps ip, protocol and host, for audit logs", async () => {
    const snapshots: TaskContext['request'][] = [];
    const audit = task('audit', (_payload: null, ctx) => {
      snapshots.push(ctx.request);
    });
    const app = createApp({
      trustProxy: true,
      tasks: { definitions: [audit], store: sqliteStore({ path: ':memory:' }) },
      routes: [post('/login', () => {
        after(audit, null);
        return new JsonResponse({}, { status: 201 });
      })],
    });
    const server = await startServer(app);
    try {
      const res = await rawRequest(server, rawGet('/login', { 'x-forwarded-for': '2001:db8::7', 'x-forwarded-proto': 'https', 'content-length': '0' }, 'POST'));
      assert.equal(res.status, 201);
      await app.settle();
      assert.equal(snapshots.length, 1);
      assert.deepEqual({ ...snapshots[0], id: 'x' }, { id: 'x', method: 'POST', path: '/login', route: '/login', ip: '2001:db8::7', protocol: 'https', host: 'localhost' });
    } finally {
      await server.close();
    }
  });

  test('a request made by hand (an IncomingMessage with no socket, given to app.handler) is answered: it has no address', async () => {
    const app = createApp({ routes: [get('/', (request) => new JsonResponse({ ip: request.ip ?? null }))] });
    const req = new IncomingMessage(null as unknown as Socket);
    req.method = 'GET';
    req.url = '/';
    req.rawHeaders = ['Host', 'example.test'];
    req.headers = { host: 'example.test' };
    req.push(null);
    const res = new ServerResponse(req);
    const sent = new Promise<string>((resolve) => {
      res.end = ((body: string) => {
        resolve(`${res.statusCode} ${body}`);
        return res;
      }) as ServerResponse['end'];
    });
    app.handler(req, res);
    assert.equal(await sent, '200 {"ip":null}');
  });
});
