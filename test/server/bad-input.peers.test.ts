// Hostile HTTP/1.1 heads ported from Node's own test/parallel (the parser's
// request-smuggling and malformed-request cases) and Fastify's
// test/request-error.test.js, over real sockets. Each test names its source.
// Node refuses these itself; Coda words the answer (Node's has no body) and
// the server keeps answering.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp, get, HttpResponse, post } from 'coda-http';
import { memoryLogger, rawRequest, serveForBadInput } from '../helpers.js';
import { pipelined, responses } from '../transport/wire.js';

/** A raw request: the request line, then each header line, then the body. */
const raw = (requestLine: string, headers: string[], body = ''): string => [requestLine, ...headers].join('\r\n') + '\r\n\r\n' + body;

describe('hostile HTTP/1.1 heads, as Node and Fastify test them', () => {
  const { logger, lines } = memoryLogger();
  let views = 0;
  const app = createApp({
    logger,
    routes: [
      get('/ok', () => {
        views++;
        return new HttpResponse('ok');
      }),
      get('/later', async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return new HttpResponse('later');
      }),
      post('/echo', async (request) => {
        views++;
        return new HttpResponse(await request.text());
      }),
    ],
  });
  const served = serveForBadInput(app, lines);

  /** Each request in `cases` is refused with `status` and a body naming the problem, the connection closed. */
  async function assertRefused(cases: [raw: string | Buffer, status: number, body: RegExp][]): Promise<void> {
    for (const [request, status, body] of cases) {
      const response = await rawRequest(served.server, request);
      const label = JSON.stringify(typeof request === 'string' ? request : request.toString('latin1'));
      assert.equal(response.status, status, label);
      assert.equal(response.headers.connection, 'close', label);
      assert.match(response.body.toString(), body, label);
    }
  }

  test("Node's requireHostHeader: an HTTP/1.1 request without Host is a 400 that says so (Node's has no body), before any view; HTTP/1.0 needs none", async () => {
    const before = views;
    await assertRefused([
      [raw('GET /ok HTTP/1.1', []), 400, /^the request has no Host header, which HTTP\/1\.1 requires$/],
      [raw('GET /ok HTTP/1.1', ['Connection: close']), 400, /no Host header/],
    ]);
    assert.equal(views, before);
    const old = await rawRequest(served.server, raw('GET /ok HTTP/1.0', []));
    assert.equal(old.status, 200);
    assert.equal(old.body.toString(), 'ok');
  });

  test("Node's checkExpectation (test-http-expect-continue): an Expect other than 100-continue is a 417 naming it (Node's has no body)", async () => {
    await assertRefused([
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Expect: 200-ok', 'Content-Length: 2'], 'hi'), 417, /^Expect: 200-ok is not supported: the only expectation this server meets is 100-continue\n$/],
      [raw('GET /ok HTTP/1.1', ['Host: localhost', 'Expect: bogus']), 417, /^Expect: bogus is not supported/],
    ]);
  });

  test("Node's test-http-transfer-encoding-smuggling and test-http-request-smuggling-content-length: framing that two parsers could read apart is a 400", async () => {
    await assertRefused([
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked, identity'], '2\r\nhi\r\n0\r\n\r\n'), 400, /^the request is malformed: Invalid `Transfer-Encoding` header value\n$/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], '2\r\nhi\r\n0\r\n\r\n'), 400, /Transfer-Encoding/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: xchunked'], '2\r\nhi\r\n0\r\n\r\n'), 400, /invalid `Transfer-Encoding`/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding : chunked'], '2\r\nhi\r\n0\r\n\r\n'), 400, /Invalid header field char/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Content-Length: 2', 'Content-Length: 3'], 'hi!'), 400, /Duplicate Content-Length/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Content-Length: 2, 2'], 'hi'), 400, /Invalid character in Content-Length/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Content-Length: +2'], 'hi'), 400, /Invalid character in Content-Length/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Content-Length: 99999999999999999999999'], 'hi'), 400, /Content-Length overflow/],
      // A Content-Length in the trailers must not reframe the body.
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '2\r\nhi\r\n0\r\nContent-Length: 50\r\n\r\n'), 400, /Content-Length can't be present with Transfer-Encoding/],
    ]);
  });

  test("Node's test-http-malformed-request and llhttp's strict mode: obs-fold, bare LF and bare CR are a 400 naming the fault", async () => {
    await assertRefused([
      [raw('GET /ok HTTP/1.1', ['Host: localhost', 'X-Folded: a', ' b']), 400, /^the request is malformed: Unexpected whitespace after header value\n$/],
      ['GET /ok HTTP/1.1\nHost: localhost\n\n', 400, /Expected CRLF after version/],
      ['GET /ok HTTP/1.1\rHost: localhost\r\n\r\n', 400, /Expected CRLF after version/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '2\nhi\n0\n\n'), 400, /Missing expected CR after chunk size/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '2\r\nhiXX0\r\n\r\n'), 400, /Expected LF after chunk data/],
      [raw('get /ok HTTP/1.1', ['Host: localhost']), 400, /Invalid method encountered/],
      [raw('GET /ok HTTP/1.2', ['Host: localhost']), 400, /Invalid HTTP version/],
      [raw('GET /ok HTTP/1.1', ['Host: localhost', ': empty name']), 400, /Invalid header token/],
    ]);
  });

  test("Go's TestServerValidatesHostHeader: a Host that is no host name with an optional port (\\x06, \\xff, {, }, a space, a port past 65535), on HTTP/1.1 or 1.0, is a 400 naming it, before any view (RFC 9112 3.2; Node served it); Go's valid ones are served, but ::1 unbracketed (RFC 3986 brackets IPv6)", async () => {
    const host = (line: string, version = 'HTTP/1.1'): Buffer => Buffer.from(raw(`GET /ok ${version}`, [line, 'Connection: close']), 'latin1');
    for (const line of ['Host: ', 'Host: 1.2.3.4', 'Host: foo.com', 'Host: foo-bar_baz.com', 'Host: foo.com:80', 'Host: [::1]', 'Host: [::1]:80', 'Host: [::1%25en0]:80']) {
      const response = await rawRequest(served.server, host(line));
      assert.equal(response.status, 200, line);
    }
    const before = views;
    const invalid = (value: string): RegExp => new RegExp(`^the Host ${JSON.stringify(value).replace(/[{}]/g, '\\$&')} is not a valid host name with an optional port \\(RFC 9112 3\\.2\\)$`);
    await assertRefused([
      [host('Host: \x06'), 400, /^the request is malformed: Invalid header value char\n$/],
      [host('Host: \xff'), 400, invalid('\xff')],
      [host('Host: \xff', 'HTTP/1.0'), 400, invalid('\xff')],
      [host('Host: {'), 400, invalid('{')],
      [host('Host: }'), 400, invalid('}')],
      [host('Host: ::1'), 400, invalid('::1')],
      [host('Host: a b'), 400, invalid('a b')],
      [host('Host: foo.com:65536'), 400, /^the Host "foo\.com:65536" is not a valid host name with an optional port: 65536 is past the last port, 65535$/],
    ]);
    assert.equal(views, before);
  });

  test("an absolute-form target (RFC 9112 3.2.2) whose authority is no host is a 400 naming it, whatever the Host line: an empty host (RFC 9110 4.2.1), user information (4.2.4), a port past 65535", async () => {
    const before = views;
    const absolute = (target: string): string => raw(`GET ${target} HTTP/1.1`, ['Host: localhost', 'Connection: close']);
    await assertRefused([
      [absolute('http:///ok'), 400, /^the request target "http:\/\/\/ok" names no host \(RFC 9110 4\.2\.1\)$/],
      [absolute('http://:80/ok'), 400, /names no host/],
      [absolute('http://user@localhost/ok'), 400, /^the host "user@localhost" of the request target "http:\/\/user@localhost\/ok" is not a valid host name with an optional port: user information is refused \(RFC 9110 4\.2\.4\)$/],
      [absolute('http://localhost:99999/ok'), 400, /99999 is past the last port, 65535$/],
    ]);
    assert.equal(views, before);
    assert.equal((await rawRequest(served.server, absolute('http://LOCALHOST:8080/ok'))).status, 200);
  });

  test("Go's TestServerValidatesHostHeader, PRI * HTTP/2.0: the HTTP/2 preface (h2c with prior knowledge) is a 505 saying HTTP/2 is served over TLS with ALPN only, where llhttp's 400 said \"Pause on PRI/Upgrade\"", async () => {
    const before = views;
    await assertRefused([
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505, /^the HTTP\/2 preface \(h2c\) is not served: this connection speaks HTTP\/1\.1, and this server speaks HTTP\/2 only over TLS, negotiated with ALPN \(h2\)\n$/],
      [`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${'\0'.repeat(9)}`, 505, /h2c/],
    ]);
    assert.equal(views, before);
  });

  test("Go's TestServerValidatesHeaders: a field name with a space, a byte past ASCII, NUL, whitespace before the colon or nothing, a value with NUL or DEL, a Content-Length not digits (with chunked or not) are a 400 naming the fault; spaces, tabs and bytes past ASCII in a value are served", async () => {
    const get = (field: string): string => raw('GET /ok HTTP/1.1', ['Host: localhost', 'Connection: close', field]);
    await assertRefused(([
      ['A space: foo', /Invalid header token/],
      ['foo\xffbar: foo', /Invalid header token/],
      ['foo\x00bar: foo', /Invalid header token/],
      ['Foo : bar', /Invalid header token/],
      ['Foo\t: bar', /Invalid header token/],
      [': empty key', /Invalid header token/],
      ['foo: foo\x00foo', /Invalid header value char/],
      ['foo: foo\x7ffoo', /Invalid header value char/],
      ['Content-Length: notdigits', /Invalid character in Content-Length/],
    ] as const).map(([field, body]): [Buffer, number, RegExp] => [Buffer.from(get(field), 'latin1'), 400, body]));
    await assertRefused([[raw('POST /echo HTTP/1.1', ['Host: localhost', 'Content-Length: notdigits', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), 400, /Invalid character in Content-Length/]]);
    for (const field of ['Foo: a space', 'foo: foo foo', 'foo: foo\tfoo', 'foo: foo\xfffoo']) {
      const response = await rawRequest(served.server, Buffer.from(get(field), 'latin1'));
      assert.equal(response.status, 200, JSON.stringify(field));
    }
  });

  test("Node's test-http-chunk-extensions-limit and chunk-size overflow: a 413 and a 400, each naming the fault", async () => {
    await assertRefused([
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], `2;${'a'.repeat(20_000)}\r\nhi\r\n0\r\n\r\n`), 413, /^the chunk extensions are larger than the server accepts\n$/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], 'ffffffffffffffffff\r\nhi\r\n0\r\n\r\n'), 400, /Chunk size overflow/],
    ]);
    // A short extension is allowed (RFC 9112 7.1.1) and ignored.
    const response = await rawRequest(served.server, raw('POST /echo HTTP/1.1', ['Host: localhost', 'Connection: close', 'Transfer-Encoding: chunked'], '2;name="v"\r\nhi\r\n0\r\n\r\n'));
    assert.equal(response.body.toString(), 'hi');
  });

  test("Node's test-http-chunked-smuggling: a chunk extension ended by a bare LF cannot smuggle a second request (the connection is closed); whitespace in a chunk size is a 400; a chunk size of many leading zeros is read", async () => {
    const smuggled = 'GET /ok HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n4c\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    const before = views;
    const wire = (await rawRequest(served.server, smuggled)).raw.toString('latin1');
    assert.equal(wire.split('HTTP/1.1 ').length, 2, 'the smuggled request was never answered');
    await assertRefused([
      // The body's fault comes in the read that holds the head: refused before any view (one that answered at once was served it, its 200 sent).
      [smuggled, 400, /^the request is malformed: Missing expected CR after chunk extension name\n$/],
      [smuggled.replace('GET /ok', 'POST /echo'), 400, /^the request is malformed: Missing expected CR after chunk extension name\n$/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '2 \r\nhi\r\n0\r\n\r\n'), 400, /^the request is malformed: Invalid character in chunk size\n$/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '2 ;a=b\r\nhi\r\n0\r\n\r\n'), 400, /Invalid character in chunk size/],
      [raw('POST /echo HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '0x2\r\nhi\r\n0\r\n\r\n'), 400, /Invalid character in chunk size/],
    ]);
    assert.equal(views, before);
    const zeros = await rawRequest(served.server, raw('POST /echo HTTP/1.1', ['Host: localhost', 'Connection: close', 'Transfer-Encoding: chunked'], `${'0'.repeat(1_000)}2\r\nhi\r\n0\r\n\r\n`));
    assert.equal(zeros.body.toString(), 'hi');
  });

  test("Fastify's 'default clientError replies with bad request on reused keep-alive connection': the answer owed goes first, then the 400", async () => {
    // The request ahead answered at once, and one whose view awaits: either way its answer is not replaced by the refusal.
    for (const first of ['/ok', '/later']) {
      const wire = await pipelined(served.server, [raw(`GET ${first} HTTP/1.1`, ['Host: localhost']), 'GET /ok HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n']);
      const { list, rest } = responses(wire);
      assert.deepEqual(list.map((response) => response.status), [200, 400], wire.toString('latin1'));
      assert.equal(list[0]!.body.toString(), first === '/ok' ? 'ok' : 'later');
      assert.match(list[1]!.body.toString(), /^the request is malformed: Invalid header token\n$/);
      assert.equal(rest.length, 0);
    }
  });
});
