// Bad input over a real socket: each is a clear 4xx naming the problem, never
// a 5xx or a crash, and the server keeps answering normal requests.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, afterEach, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import {
  after as afterResponse, ClientDisconnected, createApp, get, HttpResponse, JsonResponse, metricsView, PermissionDenied, post, type MiddlewareHooks, type Outcome, type Server,
} from 'coda-http';
import { assertServes, connect, deferred, LEVEL, memoryLogger, parseResponse, rawGet, rawRequest, startServer } from '../helpers.js';

const LIMIT = 1000;

/** A POST with the given headers and body, as raw HTTP/1.1. */
function rawPost(path: string, headers: Record<string, string>, body = ''): string {
  const lines = [`POST ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

/** One chunk of a chunked body. */
const chunk = (data: string): string => `${data.length.toString(16)}\r\n${data}\r\n`;

describe('bad input over a real socket', () => {
  const { logger, lines } = memoryLogger();
  let readerEntered = deferred<void>();
  let readerFailed = deferred<unknown>();
  let slowEntered = deferred<void>();
  let slowRelease = deferred<void>();
  // Path-based access control, as many apps write it.
  const adminGuard: MiddlewareHooks = {
    name: 'adminGuard',
    processRequest(request) {
      if (request.path.startsWith('/admin') || request.path === '/private') throw new PermissionDenied('admins only');
    },
  };
  const app = createApp({
    logger,
    bodyLimit: LIMIT,
    middleware: [adminGuard],
    routes: [
      get('/admin/secret', () => new HttpResponse('the secret')),
      get('/private', () => new HttpResponse('private')),
      post('/notes', async (request) => new JsonResponse({ got: await request.json() }, { status: 201 })),
      get('/notes/:id', (request) => new HttpResponse(`note ${request.params.id}`)),
      post('/echo', async (request) => new HttpResponse(await request.text())),
      post('/upload', async (request) => {
        readerEntered.resolve();
        try {
          return new HttpResponse(String((await request.bytes()).length));
        } catch (error) {
          readerFailed.resolve(error);
          throw error;
        }
      }),
      get('/slow', async () => {
        slowEntered.resolve();
        await slowRelease.promise;
        return new HttpResponse('late');
      }),
      get('/ok', () => new HttpResponse('ok')),
    ],
  });

  let server: Server;
  before(async () => {
    server = await startServer(app);
  });
  afterEach(async () => {
    await assertServes(server, '/ok', 'ok');
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  /** No line at error level or above was logged for these requests: nothing was treated as a server failure. */
  function assertNoErrorLogged(): void {
    const errors = lines.filter((line) => line.level >= LEVEL.error);
    assert.deepEqual(errors, [], 'bad input must not be logged as a server error');
  }

  test('a Content-Length over the limit is a 413 at once, without waiting for the body', async () => {
    // Only the head is sent: the answer must not wait for a body that is not coming.
    const response = await rawRequest(server, rawPost('/echo', { 'Content-Length': String(LIMIT * 1000), 'Content-Type': 'text/plain' }));
    assert.equal(response.status, 413);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.body.toString(), `request body too large: Content-Length ${LIMIT * 1000}, the limit is ${LIMIT} bytes`);
    assertNoErrorLogged();
  });

  test('a body over the limit, sent whole with its Content-Length, is a 413', async () => {
    const body = 'x'.repeat(LIMIT + 1);
    const response = await rawRequest(server, rawPost('/echo', { 'Content-Length': String(body.length), 'Content-Type': 'text/plain' }, body));
    assert.equal(response.status, 413);
    assert.match(response.body.toString(), /the limit is 1000 bytes/);
  });

  test('a body at the limit is fine', async () => {
    const body = 'x'.repeat(LIMIT);
    const response = await fetch(`${server.url}/echo`, { method: 'POST', body });
    assert.equal(response.status, 200);
    assert.equal((await response.text()).length, LIMIT);
  });

  test('a chunked body (no Content-Length) over the limit is a 413', async () => {
    const body = chunk('x'.repeat(600)) + chunk('y'.repeat(600)) + '0\r\n\r\n';
    const response = await rawRequest(server, rawPost('/echo', { 'Transfer-Encoding': 'chunked', 'Content-Type': 'text/plain' }, body));
    assert.equal(response.status, 413);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.body.toString(), `request body too large: more than ${LIMIT} bytes, the limit is ${LIMIT} bytes`);
    assertNoErrorLogged();
  });

  test('a chunked body that goes on past the limit gets its 413 before it ends', async () => {
    const socket = await connect(server);
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.write(rawPost('/echo', { 'Transfer-Encoding': 'chunked', 'Content-Type': 'text/plain' }));
    socket.write(chunk('x'.repeat(LIMIT)) + chunk('y'.repeat(10)));
    // No last chunk: the client would go on sending.
    await once(socket, 'end');
    socket.destroy();
    const response = parseResponse(Buffer.concat(received));
    assert.equal(response.status, 413);
  });

  test('malformed JSON is a 400 saying so', async () => {
    const response = await fetch(`${server.url}/notes`, { method: 'POST', body: '{"text": "unfinished', headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /^malformed JSON body: /);
    assertNoErrorLogged();
  });

  test('json() on a body that is not JSON is a 415 naming the type', async () => {
    const response = await fetch(`${server.url}/notes`, { method: 'POST', body: 'text=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(response.status, 415);
    assert.equal(await response.text(), 'json() expects Content-Type application/json, got application/x-www-form-urlencoded');
  });

  test('an unknown method on a known path is a 405 with Allow', async () => {
    const response = await rawRequest(server, rawGet('/notes/7', {}, 'PROPFIND'));
    assert.equal(response.status, 405);
    assert.equal(response.headers.allow, 'GET, HEAD, OPTIONS');
    assert.equal(response.body.toString(), 'method PROPFIND is not allowed for /notes/7; allowed: GET, HEAD, OPTIONS');
  });

  test('a method Node does not know is refused by Node with a 400', async () => {
    const response = await rawRequest(server, rawGet('/notes/7', {}, 'FROB'));
    assert.equal(response.status, 400);
  });

  test('a request line claiming HTTP/2.0 on an HTTP/1 connection is served as HTTP/1.1, not a crash', async () => {
    // Node's parser takes version 2.0 on a plain connection; Coda once took the version for the protocol and crashed the process.
    const response = await rawRequest(server, 'GET /notes/7 HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'note 7');
    assertNoErrorLogged();
  });

  test('CONNECT (this server is no proxy) is a 501 saying so, not a connection closed without an answer', async () => {
    const response = await rawRequest(server, 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    assert.equal(response.status, 501);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.body.toString(), 'CONNECT evil.example:443 is not supported: this server is not a proxy');
  });

  test('OPTIONS * (the server as a whole, RFC 9110 9.3.7) is a 204 with every method some route answers', async () => {
    const response = await rawRequest(server, 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 204);
    assert.equal(response.headers.allow, 'GET, HEAD, POST, OPTIONS');
  });

  test('* with any method but OPTIONS is a 400 naming the method (RFC 9112 3.2.4), not the route for / (find-my-way matched GET * to it)', async () => {
    const home = await startServer(createApp({ logger: memoryLogger().logger, routes: [get('/', () => new HttpResponse('home')), post('/', () => new HttpResponse('posted'))] }));
    try {
      for (const method of ['GET', 'POST', 'HEAD', 'DELETE']) {
        const response = await rawRequest(home, `${method} * HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        assert.equal(response.status, 400, method);
        if (method !== 'HEAD') assert.equal(response.body.toString(), `the request target * (the server as a whole) is for OPTIONS only, not ${method}`);
      }
      assert.equal((await rawRequest(home, 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).status, 204);
      assert.equal((await rawRequest(home, rawGet('/'))).body.toString(), 'home');
    } finally {
      await home.close();
    }
  });

  test('two Host headers are a 400 (RFC 9112 3.2) before any middleware, and the connection is closed', async () => {
    const response = await rawRequest(server, 'GET /private HTTP/1.1\r\nHost: localhost\r\nhost: admin.internal\r\n\r\n');
    assert.equal(response.status, 400);
    assert.equal(response.headers.connection, 'close');
    assert.match(response.body.toString(), /more than one Host header/);
    assertNoErrorLogged();
  });

  test('a Transfer-Encoding other than chunked alone (a coding before it, or two lines) is a 501 naming it (200 characters of it at most; RFC 9112 6.1), the connection closed: the view never reads the coded bytes as the body', async () => {
    const long = `${'x'.repeat(5_000)}, chunked`;
    for (const [sent, named] of [['gzip, chunked', 'gzip, chunked'], ['gzip\r\nTransfer-Encoding: chunked', 'gzip, chunked'], ['x-custom , chunked', 'x-custom , chunked'], [long, `${'x'.repeat(200)}…`]]) {
      const response = await rawRequest(server, rawPost('/echo', { 'Transfer-Encoding': sent! }, `${chunk('abc')}0\r\n\r\n`));
      assert.equal(response.status, 501, sent);
      assert.equal(response.headers.connection, 'close');
      assert.equal(response.body.toString(), `the request's Transfer-Encoding ${JSON.stringify(named)} is not supported: this server decodes chunked alone (RFC 9112 6.1)\n`);
    }
    const chunked = await rawRequest(server, rawPost('/echo', { 'Transfer-Encoding': 'Chunked' }, `${chunk('abc')}0\r\n\r\n`));
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), 'abc');
    assertNoErrorLogged();
  });

  test('a request with Expect: 100-continue gets the same checks before the app (Node hands it to another listener, which went around them): a coding before chunked is its 501, no 100 sent', async () => {
    const coded = await rawRequest(server, rawPost('/echo', { Expect: '100-continue', 'Transfer-Encoding': 'gzip, chunked' }, `${chunk('abc')}0\r\n\r\n`));
    assert.equal(coded.status, 501);
    assert.equal(coded.body.toString(), 'the request\'s Transfer-Encoding "gzip, chunked" is not supported: this server decodes chunked alone (RFC 9112 6.1)\n');
    assert.doesNotMatch(coded.raw.toString('latin1'), /100 Continue/);
    assertNoErrorLogged();
  });

  test('an HTTP/1.0 request with a Transfer-Encoding is a 400, the connection closed (RFC 9112 6.1: its framing is faulty): Node read it chunked, where Go, and a proxy that holds HTTP/1.0 to it, read no body', async () => {
    for (const head of ['POST /echo HTTP/1.0\r\nHost: localhost', 'POST /echo HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive']) {
      const response = await rawRequest(server, `${head}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('abc')}0\r\n\r\nGET /private HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      assert.equal(response.status, 400, head);
      assert.equal(response.headers.connection, 'close', head);
      assert.equal(response.body.toString(), 'an HTTP/1.0 request has a Transfer-Encoding, which HTTP/1.0 does not have: its body cannot be told apart from what follows (RFC 9112 6.1)\n');
    }
    assertNoErrorLogged();
  });

  test('two Host headers in any letter case are a 400 too', async () => {
    for (const [first, second] of [['HOST', 'host'], ['Host', 'hOsT'], ['hosT', 'HOST']]) {
      const response = await rawRequest(server, `GET /private HTTP/1.1\r\n${first}: localhost\r\n${second}: admin.internal\r\n\r\n`);
      assert.equal(response.status, 400, `${first}, ${second}`);
      assert.match(response.body.toString(), /more than one Host header/);
    }
    assertNoErrorLogged();
  });

  test('two Content-Type, Authorization or Proxy-Authorization lines are a 400 naming the field before any middleware, the connection closed (Node kept the first, a proxy may act on the last); one of each is served', async () => {
    for (const [first, second, named] of [['Content-Type', 'content-type', 'Content-Type'], ['Authorization', 'AUTHORIZATION', 'Authorization'], ['proxy-authorization', 'Proxy-Authorization', 'Proxy-Authorization']]) {
      const head = `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n${first}: text/plain\r\n${second}: application/json\r\n\r\nabc`;
      const response = await rawRequest(server, `${head}GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      assert.equal(response.status, 400, first);
      assert.equal(response.headers.connection, 'close', first);
      assert.equal(response.body.toString(), `the request has more than one ${named} header`);
      assert.equal(response.raw.toString('latin1').split('HTTP/1.1 ').length, 2, 'the request after it is not answered');
    }
    const once = await rawRequest(server, rawPost('/echo', { 'Content-Type': 'text/plain', Authorization: 'Basic eDp5', 'Proxy-Authorization': 'Basic eDp5', 'Content-Length': '3' }, 'abc'));
    assert.equal(once.status, 200);
    assert.equal(once.body.toString(), 'abc');
    assertNoErrorLogged();
  });

  test('invalid percent-encoding in the path is a 400 naming the path', async () => {
    for (const path of ['/notes/%zz', '/notes/%E0%A4%A', '/nowhere/%']) {
      const response = await rawRequest(server, rawGet(path));
      assert.equal(response.status, 400, path);
      assert.equal(response.body.toString(), `invalid percent-encoding in path ${JSON.stringify(path)}`);
    }
    assertNoErrorLogged();
  });

  test('an absolute-form request target cannot slip past path-based middleware', async () => {
    assert.equal((await rawRequest(server, rawGet('/admin/secret'))).status, 403);
    for (const target of ['http://localhost/admin/secret', 'HTTP://evil.example:8080/admin/secret?x=1']) {
      const response = await rawRequest(server, rawGet(target));
      assert.equal(response.status, 403, target);
      assert.equal(response.body.toString(), 'admins only');
    }
  });

  test('percent-encoded letters in the path cannot slip past path-based middleware', async () => {
    for (const target of ['/%61dmin/secret', '/adm%69n/secret', '/%61%64%6d%69%6e/secret', '/%61dmin/secre%74']) {
      const response = await rawRequest(server, rawGet(target));
      assert.equal(response.status, 403, target);
      assert.equal(response.body.toString(), 'admins only');
    }
  });

  test('a fragment sent in the request target cannot slip past path-based middleware', async () => {
    for (const target of ['/private#x', '/private#', '/private?a=1#x', '/admin/secret#x']) {
      const response = await rawRequest(server, rawGet(target));
      assert.equal(response.status, 403, target);
    }
  });

  const URI_TOO_LONG = 'the request target (the URL) is longer than the server accepts: more than 16384 bytes\n';
  const FIELDS_TOO_LARGE = 'the request\'s header fields are larger than the server accepts: more than 16384 bytes, or more than 1000 header fields\n';

  test('an over-long URL gets a 414 saying so (RFC 9110 15.5.15; Node\'s parser counts the URL in its header limit and answers 431), the connection closed', async () => {
    const response = await rawRequest(server, rawGet(`/notes/${'a'.repeat(20_000)}`));
    assert.equal(response.status, 414);
    assert.equal(response.headers.connection, 'close');
    assert.equal(response.body.toString(), URI_TOO_LONG);
  });

  test('an over-long URL pipelined behind a request the server answered is a 414 too, after that answer', async () => {
    const response = await rawRequest(server, `GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n${rawGet(`/notes/${'a'.repeat(20_000)}`)}`);
    assert.equal(response.status, 200);
    const [, refusal] = response.raw.toString().split('\r\n\r\nok');
    assert.match(refusal!, /^HTTP\/1\.1 414 URI Too Long\r\n/);
    assert.ok(refusal!.endsWith(`\r\n\r\n${URI_TOO_LONG}`), refusal);
  });

  test('an over-long URL on a kept-alive connection, in a read of its own that ends inside it, is a 414 too (it was the 431 of the header fields)', async () => {
    const socket = await connect(server);
    const chunks: Buffer[] = [];
    const closed = once(socket, 'close');
    const answered = new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).toString().endsWith('\r\n\r\nok')) resolve();
    }));
    socket.write('GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n');
    // The second request goes once the first is answered, so that it starts a read of its own.
    await Promise.race([answered, closed]);
    socket.write(rawGet(`/notes/${'a'.repeat(100_000)}`));
    await closed;
    const [, refusal] = Buffer.concat(chunks).toString().split('\r\n\r\nok');
    assert.match(refusal!, /^HTTP\/1\.1 414 URI Too Long\r\n/);
    assert.ok(refusal!.endsWith(`\r\n\r\n${URI_TOO_LONG}`), refusal);
  });

  test('an over-long URL right after the body of the request before it, in one read that ends inside the URL, is a 414 too (it was the 431 of the header fields)', async () => {
    const response = await rawRequest(server, `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\n\r\n{"a":1}${rawGet(`/notes/${'a'.repeat(100_000)}`)}`);
    const [, refusal] = response.raw.toString().split('\r\n\r\n{"a":1}');
    assert.match(refusal!, /^HTTP\/1\.1 414 URI Too Long\r\n/);
    assert.ok(refusal!.endsWith(`\r\n\r\n${URI_TOO_LONG}`), refusal);
  });

  test('an over-long header block gets a 431 saying so, also when the URL is long but under the limit', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 100; i++) headers[`x-filler-${i}`] = 'f'.repeat(200);
    for (const target of ['/ok', `/ok?${'q'.repeat(9_000)}`]) {
      const response = await rawRequest(server, rawGet(target, headers));
      assert.equal(response.status, 431);
      assert.equal(response.body.toString(), FIELDS_TOO_LARGE);
    }
    const oneLarge = await rawRequest(server, rawGet(`/ok?${'q'.repeat(9_000)}`, { 'x-large': 'v'.repeat(9_000) }));
    assert.equal(oneLarge.status, 431);
    assert.equal(oneLarge.body.toString(), FIELDS_TOO_LARGE);
  });

  test('what Node\'s parser refuses is a 400 naming the problem in its body (Node sends none), the connection closed', async () => {
    const cases: [string, RegExp][] = [
      [rawPost('/echo', { 'Content-Length': 'ten' }, 'x'), /^the request is malformed: Invalid character in Content-Length\n$/],
      [rawPost('/echo', { 'Content-Length': '5', 'Transfer-Encoding': 'chunked' }, chunk('hello') + '0\r\n\r\n'), /^the request is malformed: .*Content-Length.*\n$/i],
      ['GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\u0001b\r\n\r\n', /^the request is malformed: Invalid header value char\n$/],
      ['GET /ok HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n', /^the request is malformed: Invalid header token\n$/],
      [rawPost('/echo', { 'Transfer-Encoding': 'chunked' }, 'zz\r\nhello\r\n0\r\n\r\n'), /^the request is malformed: Invalid character in chunk size\n$/],
    ];
    for (const [raw, body] of cases) {
      const response = await rawRequest(server, raw);
      assert.equal(response.status, 400, JSON.stringify(raw));
      assert.equal(response.headers.connection, 'close');
      assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
      assert.match(response.body.toString(), body, JSON.stringify(raw));
    }
    assertNoErrorLogged();
  });

  /** Starts a chunked upload, lets the view begin reading it, then hangs up. */
  async function abandonUpload(): Promise<unknown> {
    readerEntered = deferred<void>();
    readerFailed = deferred<unknown>();
    const socket = await connect(server);
    socket.write(rawPost('/upload', { 'Transfer-Encoding': 'chunked' }) + chunk('partial'));
    await readerEntered.promise;
    socket.destroy();
    return readerFailed.promise;
  }

  test('a client that disconnects mid-body: the server survives and the view\'s read fails with ClientDisconnected', { timeout: 5_000 }, async () => {
    const error = await abandonUpload();
    assert.ok(error instanceof ClientDisconnected, `the view's read fails with ClientDisconnected, not ${String(error)}`);
    assertNoErrorLogged();
  });

  // The socket's 'close' comes before the pipeline is done: the request must end all the same.
  test('a client that disconnects mid-body leaves no request in flight', { timeout: 2_000 }, async () => {
    await abandonUpload();
    // The response for a client that has gone is never sent; the request must still end.
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
  });

  test('a client that leaves before a slow view answers leaves no request in flight', { timeout: 2_000 }, async () => {
    slowEntered = deferred<void>();
    slowRelease = deferred<void>();
    const closedOnServer = new Promise<void>((resolve) => server.server.once('connection', (s) => s.once('close', () => resolve())));
    const socket = await connect(server);
    socket.write(rawGet('/slow'));
    await slowEntered.promise;
    socket.destroy();
    await closedOnServer;
    slowRelease.resolve();
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
  });
});

test('a request answered before its body arrived, whose body then stops: one response, then the connection closed at requestTimeout, never a 408 after it (it would be read as the answer to the next request); a view reading such a body still gets its 408', { timeout: 5_000 }, async () => {
  const app = createApp({
    logger: memoryLogger().logger,
    routes: [
      post('/early', () => new HttpResponse('answered without reading')),
      post('/read', async (request) => new HttpResponse(await request.text())),
    ],
  });
  const server = await startServer(app, { requestTimeoutMs: 300 });
  try {
    const received = async (path: string): Promise<string> => {
      const socket = await connect(server);
      const chunks: Buffer[] = [];
      socket.on('data', (data: Buffer) => chunks.push(data));
      socket.on('error', () => {});
      // Keep-alive, and the body's first bytes only.
      socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nthe start`);
      await once(socket, 'close');
      return Buffer.concat(chunks).toString('latin1');
    };
    const early = await received('/early');
    assert.equal(early.match(/HTTP\/1\.1 /g)?.length, 1, `one response: ${JSON.stringify(early)}`);
    assert.match(early, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nanswered without reading$/);
    assert.match(await received('/read'), /^HTTP\/1\.1 408 Request Timeout\r\n[^]*\r\n\r\nthe request did not arrive in time\n$/);
    await app.settle();
    assert.equal(app.requestsInFlight, 0);
  } finally {
    await server.close({ timeoutMs: 1_000 });
  }
});

test('what the server refuses before the app (Node\'s parser: 400, 414, 431, 408; CONNECT: 501; a transfer coding but chunked: 501; an unknown Expect: 417) is logged at info, with no byte the client sent in the line, and counted in coda_requests_refused_total by status', { timeout: 5_000 }, async (t) => {
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, metrics: { registry, defaultMetrics: false }, routes: [get('/ok', () => new HttpResponse('ok')), get('/metrics', metricsView({ registry }))] });
  const server = await startServer(app, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  // A header the parser refuses, followed by bytes shaped as a log line of their own.
  const forging = 'GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\u0001\n{"level":50,"msg":"forged"}\r\n\r\n';
  assert.equal((await rawRequest(server, forging)).status, 400);
  assert.equal((await rawRequest(server, rawGet(`/${'a'.repeat(20_000)}`))).status, 414);
  assert.equal((await rawRequest(server, rawGet('/ok', { 'x-large': 'v'.repeat(20_000) }))).status, 431);
  assert.equal((await rawRequest(server, 'GET /ok HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')).status, 408);
  // A connection that sends nothing (a browser's preconnect, a port probe) gets Node's 408 too, but it is no request: not recorded.
  assert.equal((await rawRequest(server, '')).status, 408);
  assert.equal((await rawRequest(server, 'CONNECT forged.example:443 HTTP/1.1\r\nHost: forged.example:443\r\n\r\n')).status, 501);
  assert.equal((await rawRequest(server, rawGet('/ok', { expect: 'forged' }))).status, 417);
  assert.equal((await rawRequest(server, rawPost('/ok', { 'transfer-encoding': 'forged, chunked' }, '0\r\n\r\n'))).status, 501);
  const refusals = lines.filter((line) => line.status !== undefined && line.durationMs === undefined);
  assert.deepEqual(refusals.map(({ level, status, code, remoteAddress, msg }) => ({ level, status, code, remoteAddress, msg })), [
    { level: LEVEL.info, status: 400, code: 'HPE_INVALID_HEADER_TOKEN', remoteAddress: '127.0.0.1', msg: 'request refused before the app: 400 the request is malformed: Invalid header value char' },
    { level: LEVEL.info, status: 414, code: 'HPE_HEADER_OVERFLOW', remoteAddress: '127.0.0.1', msg: 'request refused before the app: 414 the request target (the URL) is longer than the server accepts: more than 16384 bytes' },
    { level: LEVEL.info, status: 431, code: 'HPE_HEADER_OVERFLOW', remoteAddress: '127.0.0.1', msg: 'request refused before the app: 431 the request\'s header fields are larger than the server accepts: more than 16384 bytes, or more than 1000 header fields' },
    { level: LEVEL.info, status: 408, code: 'ERR_HTTP_REQUEST_TIMEOUT', remoteAddress: '127.0.0.1', msg: 'request refused before the app: 408 the request did not arrive in time' },
    { level: LEVEL.info, status: 501, code: undefined, remoteAddress: '127.0.0.1', msg: 'request refused before the app: 501 CONNECT is not supported: this server is not a proxy' },
    { level: LEVEL.info, status: 417, code: undefined, remoteAddress: '127.0.0.1', msg: 'request refused before the app: 417 an Expect other than 100-continue is not supported' },
    { level: LEVEL.info, status: 501, code: undefined, remoteAddress: '127.0.0.1', msg: 'request refused before the app: 501 a Transfer-Encoding other than chunked is not supported' },
  ]);
  assert.ok(!JSON.stringify(lines).includes('forged'), 'nothing the client sent is in the log');
  const scraped = await (await fetch(`${server.url}/metrics`)).text();
  const refused = [...scraped.matchAll(/^coda_requests_refused_total\{status_code="(\d+)"\} (\d+)$/gm)].map(([, status, count]) => [status, Number(count)]);
  assert.deepEqual(refused.sort(), [['400', 1], ['408', 1], ['414', 1], ['417', 1], ['431', 1], ['501', 2]]);
  assert.doesNotMatch(scraped, /^http_request_duration_seconds_count\{[^}]*status_code="4/m, 'refusals are not requests the app answered');
});

test('a view reading a body that does not arrive in time: its request is recorded with the 408 the server sent in its stead (access log, tasks\' outcome), saying the server cut it off and why, not as a client gone', { timeout: 5_000 }, async (t) => {
  const { logger, lines } = memoryLogger();
  const seen = deferred<Outcome>();
  const app = createApp({
    logger,
    routes: [post('/read', async (request) => {
      afterResponse(({ outcome }) => seen.resolve(outcome));
      return new HttpResponse(await request.text());
    })],
  });
  const server = await startServer(app, { requestTimeoutMs: 300 });
  t.after(() => server.close({ timeoutMs: 1_000 }));
  const response = await rawRequest(server, 'POST /read HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nthe start');
  assert.equal(response.status, 408);
  const { status, headersSent, aborted, cutOff } = await seen.promise;
  assert.deepEqual({ status, headersSent, aborted, cutOff }, { status: 408, headersSent: true, aborted: true, cutOff: 'the request did not arrive in time' });
  await app.settle();
  const logged = lines.filter((line) => line.durationMs !== undefined);
  assert.deepEqual(logged.map((line) => line.status), [408]);
  // Who ended it: the server, not the client (which did not go away).
  assert.match(String(logged[0]!.msg), /^POST \/read 408 [\d.]+ ms \(cut off by the server: the request did not arrive in time\)$/);
  assert.equal(logged[0]!.cutOff, 'the request did not arrive in time');
  assert.equal(lines.filter((line) => String(line.msg).startsWith('request refused')).length, 0, 'recorded once, as the app\'s request');
});
