// Request smuggling and hostile framing over a raw socket, as Node's
// test/parallel/test-http-*smuggl*, llhttp's tests, Go's net/http and RFC 9112
// probe a server; each case names its source. Cases already in
// bad-input*.test.ts, transfer-coding.test.ts and chunk-framing.test.ts are not
// repeated. Every answer is one response naming the problem, the connection
// closed when the framing is suspect, no request hidden in a body is ever
// served, and no view's task runs as if its request had been served.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { after, createApp, get, HttpResponse, post, StreamingResponse, type HttpRequest, type Outcome } from 'coda-http';
import { LEVEL, memoryLogger, serveForBadInput, type RawResponse } from '../helpers.js';
import { responses } from '../transport/wire.js';

const HOST = 'Host: localhost\r\n';
/** What a smuggler hides after the body a front end would see: a request no view may ever serve. */
const HIDDEN = `GET /admin HTTP/1.1\r\n${HOST}\r\n`;
/** A chunked POST to `path` with `transferEncoding` as its Transfer-Encoding value (after the colon), `body`, then the hidden request. */
const chunked = (body: string, { path = '/echo', transferEncoding = ' chunked' } = {}): string =>
  `POST ${path} HTTP/1.1\r\n${HOST}Transfer-Encoding:${transferEncoding}\r\n\r\n${body}${HIDDEN}`;
/** The longest a case may take: a hang fails it instead of the whole file's timeout. */
const BOUND_MS = 20_000;

describe('request smuggling over a raw socket', () => {
  const { logger, lines } = memoryLogger();
  let hidden = 0;
  let views = 0;
  /** The outcomes the tasks of the views that ran were given. */
  const tasks: Outcome[] = [];
  /** `view`, counted, with a task that keeps its outcome; not async: a view that answers at once answers in the read of its head. */
  const counted = (view: (request: HttpRequest) => HttpResponse | Promise<HttpResponse>) => (request: HttpRequest) => {
    views++;
    after(({ outcome }) => void tasks.push(outcome));
    return view(request);
  };
  const app = createApp({
    logger,
    routes: [
      get('/ok', () => new HttpResponse('ok')),
      get('/admin', () => (hidden++, new HttpResponse('the hidden request was served'))),
      post('/at-once', counted(() => new HttpResponse('at once'))),
      post('/echo', counted(async (request) => new HttpResponse(await request.text()))),
      get('/slow', counted(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return new HttpResponse('slow');
      })),
      get('/header/name', () => new HttpResponse('x', { headers: { 'x-a\r\nX-Injected': '1' } })),
      get('/header/value', () => new HttpResponse('x', { headers: { 'x-a': 'a\r\nX-Injected: 1' } })),
      get('/header/unicode', () => new HttpResponse('x', { headers: { 'x-a': 'caf\u00e9 \u2192' } })),
      get('/header/stream', () => {
        const response = new StreamingResponse(Readable.from(['a']));
        response.headers.set('x-a', 'a\nb');
        return response;
      }),
      get('/status/:status', (request) => {
        const response = new HttpResponse('x');
        response.status = Number(request.params.status);
        return response;
      }),
    ],
  });
  const served = serveForBadInput(app, lines);

  /** Writes `bytes` on a new connection and reads until the server closes it, `BOUND_MS` at most. */
  async function exchange(bytes: string | Buffer): Promise<{ list: RawResponse[]; rest: Buffer }> {
    const socket = net.connect(served.server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      timer = setTimeout(() => resolve(false), BOUND_MS);
    });
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    const ended = await closed;
    clearTimeout(timer);
    socket.destroy();
    assert.ok(ended, `the server closed the connection within ${BOUND_MS} ms`);
    return responses(Buffer.concat(chunks));
  }

  /**
   * Each request is refused with `status` and a body matching `body`: one
   * response, the connection closed, nothing hidden served. A fault before
   * any of the body is refused before the app: no view runs, nor its task.
   * One after some of it (`viewed`) reaches the view reading the body, whose
   * task is told the server cut the request off with that status.
   */
  async function assertRefused(cases: [source: string, request: string, status: number, body: RegExp, viewed?: 'viewed'][]): Promise<void> {
    for (const [source, request, status, body, viewed] of cases) {
      const [beforeViews, beforeHidden] = [views, hidden];
      tasks.length = 0;
      const { list, rest } = await exchange(request);
      assert.deepEqual(list.map((response) => response.status), [status], source);
      assert.equal(rest.length, 0, source);
      assert.equal(list[0]!.headers.connection, 'close', source);
      assert.match(list[0]!.body.toString(), body, source);
      assert.equal(hidden, beforeHidden, `${source}: the hidden request was not served`);
      await app.settle();
      assert.equal(views - beforeViews, viewed === undefined ? 0 : 1, source);
      const cutOff = tasks.map((outcome) => [outcome.status, outcome.completed, outcome.cutOff]);
      assert.deepEqual(cutOff, viewed === undefined ? [] : [[status, false, list[0]!.body.toString().trimEnd()]], `${source}: the task's outcome`);
    }
  }

  test('Content-Length variants (Node test-http-request-smuggling-content-length, RFC 9112 6.3, 8.6, Go readTransfer): the same length twice, hex, signed, a list without spaces are a 400 before any view; spaces and tabs around it are OWS, and served', async () => {
    const post = (lengths: string[], body: string): string => `POST /at-once HTTP/1.1\r\n${HOST}${lengths.map((length) => `Content-Length:${length}\r\n`).join('')}\r\n${body}${HIDDEN}`;
    await assertRefused([
      ['two equal Content-Length lines (RFC 9112 6.3 lets a recipient refuse them; Node and Go do)', post([' 5', ' 5'], 'hello'), 400, /^the request is malformed: Duplicate Content-Length\n$/],
      ['Content-Length: 0x5 (Go: "bad Content-Length")', post([' 0x5'], 'hello'), 400, /^the request is malformed: Invalid character in Content-Length\n$/],
      ['Content-Length: -5', post([' -5'], 'hello'), 400, /Invalid character in Content-Length/],
      ['Content-Length: 5,5', post([' 5,5'], 'hello'), 400, /Invalid character in Content-Length/],
    ]);
    for (const length of ['  5  ', '\t5\t']) {
      const { list } = await exchange(`POST /echo HTTP/1.1\r\n${HOST}Connection: close\r\nContent-Length:${length}\r\n\r\nhello${HIDDEN}`);
      assert.deepEqual(list.map((response) => [response.status, response.body.toString()]), [[200, 'hello']], JSON.stringify(length));
    }
    assert.equal(hidden, 0);
  });

  test('both framings on one request, a request hidden after the body either front end sees (PortSwigger CL.TE and TE.CL, Node test-http-transfer-encoding-smuggling, RFC 9112 6.1): a 400 before any view, the hidden request never served', async () => {
    await assertRefused([
      ['CL.TE: the front end sends the whole by Content-Length, the server would read chunked', `POST /at-once HTTP/1.1\r\n${HOST}Content-Length: ${5 + HIDDEN.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`, 400, /^the request is malformed: Transfer-Encoding can't be present with Content-Length\n$/],
      ['TE.CL: the front end sends chunked, the server would read 4 bytes', `POST /at-once HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${HIDDEN}\r\n0\r\n\r\n`, 400, /^the request is malformed: Content-Length can't be present with Transfer-Encoding\n$/],
      ['Transfer-Encoding: identity with a Content-Length (RFC 7230 removed identity)', `POST /at-once HTTP/1.1\r\n${HOST}Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nhi${HIDDEN}`, 400, /Content-Length can't be present with Transfer-Encoding/],
      ['Transfer-Encoding: chunked, (an empty coding after it)', chunked('0\r\n\r\n', { path: '/at-once', transferEncoding: ' chunked,' }), 400, /^the request is malformed: Invalid `Transfer-Encoding` header value\n$/],
    ]);
  });

  test('Transfer-Encoding: chunked then a tab (OWS, RFC 9110 5.6.3), which llhttp refuses only after Node handed the request on and trimmed the tab away: a 400 before any view (a view that answered at once was served it and its 200 sent; one reading the body ran, its task too); a tab before it, or spaces after, are chunked and served', async () => {
    const recorded = lines.filter((line) => line.code === 'HPE_INVALID_TRANSFER_ENCODING').length;
    for (const transferEncoding of [' chunked\t', '\tchunked\t', ' chunked \t ']) {
      for (const path of ['/at-once', '/echo']) {
        await assertRefused([[`${JSON.stringify(transferEncoding)} to ${path}`, chunked('2\r\nhi\r\n0\r\n\r\n', { path, transferEncoding }), 400, /^the request is malformed: Request has invalid `Transfer-Encoding`\n$/]]);
      }
    }
    assert.equal(lines.filter((line) => line.code === 'HPE_INVALID_TRANSFER_ENCODING').length - recorded, 6, 'each recorded once, as a refusal before the app');
    for (const transferEncoding of ['\tchunked', ' chunked  ']) {
      const { list } = await exchange(chunked('2\r\nhi\r\n0\r\n\r\n', { transferEncoding }).replace(HIDDEN, '').replace(HOST, `${HOST}Connection: close\r\n`));
      assert.deepEqual(list.map((response) => [response.status, response.body.toString()]), [[200, 'hi']], JSON.stringify(transferEncoding));
    }
  });

  test("chunk sizes and data as llhttp's tests and Go's chunked reader refuse them: negative, 2^64, a leading space, data shorter than its size, an extension ended by a bare LF: in the read that holds the head, a 400 before any view, the request after it never served", async () => {
    // One small write: on loopback, the head and the fault come in one read.
    const malformed = (reason: string): RegExp => new RegExp(`^the request is malformed: ${reason}\\n$`);
    await assertRefused([
      ['a negative size (llhttp)', chunked('-2\r\nhi\r\n0\r\n\r\n'), 400, malformed('Invalid character in chunk size')],
      ['a size of 2^64 (Go: "http chunk length too large"; llhttp: overflow)', chunked('10000000000000000\r\nhi\r\n0\r\n\r\n'), 400, malformed('Chunk size overflow')],
      ['2^64 + 2, which wraps to 2 in a 64-bit parser that does not check', chunked('10000000000000002\r\nhi\r\n0\r\n\r\n'), 400, malformed('Chunk size overflow')],
      ['a leading space before the size', chunked(' 2\r\nhi\r\n0\r\n\r\n'), 400, malformed('Invalid character in chunk size')],
      ['data shorter than its size (the hidden request\'s bytes taken as data)', chunked('5\r\nhi\r\n0\r\n\r\n'), 400, malformed('Invalid character in chunk size'), 'viewed'],
      ['an extension value ended by a bare LF (Node test-http-chunked-smuggling)', chunked('2;a=b\nhi\r\n0\r\n\r\n'), 400, malformed('Missing expected CR after chunk extension value')],
    ]);
  });

  test('trailers with a field that frames or is folded (RFC 9110 6.5.1, RFC 9112 5.2): a Transfer-Encoding or an obs-fold there is a 400, the request after it never served', async () => {
    await assertRefused([
      ['Transfer-Encoding in the trailers', chunked('2\r\nhi\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'), 400, /^the request is malformed: Invalid `Transfer-Encoding` header value\n$/, 'viewed'],
      ['an obs-fold in the trailers', chunked('2\r\nhi\r\n0\r\nX-Trailer: a\r\n folded\r\n\r\n'), 400, /^the request is malformed: Unexpected whitespace after header value\n$/, 'viewed'],
    ]);
  });

  test("bytes llhttp and Go refuse in a head: a bare CR or LF inside a header value, NUL, CR, LF, tab or space inside the request target: a 400 naming the fault, before any view", async () => {
    const get = (target: string, field = 'X-Ok: 1'): string => `GET ${target} HTTP/1.1\r\n${HOST}${field}\r\n\r\n${HIDDEN}`;
    await assertRefused([
      ['a bare CR inside a header value (llhttp strict)', get('/ok', 'X-Bad: a\rb'), 400, /^the request is malformed: Missing expected LF after header value\n$/],
      ['a bare LF inside a header value, a second field after it (llhttp strict)', get('/ok', 'X-Bad: a\nX-Injected: b'), 400, /^the request is malformed: Missing expected CR after header value\n$/],
      ['NUL in the request target (Go: invalid URI)', get('/o\0k'), 400, /^the request is malformed: Invalid char in url path\n$/],
      ['a bare CR in the request target', get('/o\rk'), 400, /^the request is malformed: Expected CRLF\n$/],
      ['a bare LF in the request target', get('/o\nk'), 400, /^the request is malformed: Invalid header token\n$/],
      ['a tab in the request target', get('/o\tk'), 400, /^the request is malformed: Invalid characters in url\n$/],
      ['a space in the request target (RFC 9112 3: one SP between the parts)', get('/o k'), 400, /^the request is malformed: Expected HTTP\/, RTSP\/ or ICE\/\n$/],
    ]);
  });

  test('request lines as Go TestReadRequest_Bad and RFC 9112 2.3 probe them: versions 9.9, 3.0, 1.10 and a lowercase http/, a method of 100 KB: a 400 naming the fault at once, before any view', async () => {
    const line = (requestLine: string): string => `${requestLine}\r\n${HOST}\r\n${HIDDEN}`;
    await assertRefused([
      ['HTTP/9.9', line('GET /ok HTTP/9.9'), 400, /^the request is malformed: Invalid HTTP version\n$/],
      ['HTTP/3.0', line('GET /ok HTTP/3.0'), 400, /^the request is malformed: Invalid HTTP version\n$/],
      ['HTTP/1.10 (one digit a part, RFC 9112 2.3)', line('GET /ok HTTP/1.10'), 400, /^the request is malformed: Expected CRLF after version\n$/],
      ['http/1.1 (the name is case-sensitive, RFC 9112 2.3)', line('GET /ok http/1.1'), 400, /^the request is malformed: Expected HTTP\/, RTSP\/ or ICE\/\n$/],
      ['a method of 100 KB', line(`${'A'.repeat(100_000)} /ok HTTP/1.1`), 400, /^the request is malformed: Invalid method encountered\n$/],
    ]);
  });

  test("an HTTP/0.9 request (no version, or HTTP/0.9; RFC 9112 2.3 gives it no place, Go's TestReadRequest_Bad refuses it): a 400 before any view (Go's answer: a malformed request line, most a mangled HTTP/1.1, not a version to negotiate), the connection closed, though llhttp read header fields and a body after its line, which HTTP/0.9 has none of (Node answered it as HTTP/1.1)", async () => {
    const refused = /^a request line without an HTTP version \(HTTP\/0\.9\) is not served: this server speaks HTTP\/1\.0 and HTTP\/1\.1 \(RFC 9112 2\.3\)\n$/;
    await assertRefused([
      ['a request line without a version', 'GET /slow\r\n\r\n', 400, refused],
      ['HTTP/0.9 named', 'GET /slow HTTP/0.9\r\n\r\n', 400, refused],
      ['fields and a body after the line, the body a request to a reader of HTTP/0.9', `GET /slow\r\n${HOST}Content-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`, 400, refused],
      ['the line ended by a bare LF', `GET /slow\n${HOST}\r\n${HIDDEN}`, 400, refused],
    ]);
    const logged = 'request refused before the app: 400 a request line without an HTTP version (HTTP/0.9) is not served: this server speaks HTTP/1.0 and HTTP/1.1';
    assert.equal(lines.filter((line) => line.status === 400 && line.msg === logged).length, 4, 'each recorded once, as a refusal');
  });

  test('an HTTP/1.0 request with Connection: keep-alive keeps its connection (RFC 9112 9.3, Node test-http-1.0-keep-alive); the HTTP/1.0 request after it without one closes it, and nothing after that is served', async () => {
    const { list, rest } = await exchange(`GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /ok HTTP/1.0\r\n\r\n${HIDDEN}`);
    assert.deepEqual(list.map((response) => [response.status, response.headers.connection, response.body.toString()]), [[200, 'keep-alive', 'ok'], [200, 'close', 'ok']]);
    assert.equal(rest.length, 0);
    assert.equal(hidden, 0);
  });

  test('requests pipelined after one with Connection: close (RFC 9112 9.6: the server reads no further; Node test-http-pipeline-requests-connection-leak), its view at once or awaiting: one answer, nothing after it served', async () => {
    for (const path of ['/ok', '/slow']) {
      const { list, rest } = await exchange(`GET ${path} HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n${HIDDEN}${HIDDEN}`);
      assert.deepEqual(list.map((response) => [response.status, response.headers.connection]), [[200, 'close']], path);
      assert.equal(rest.length, 0, path);
    }
    assert.equal(hidden, 0);
  });

  test("an app that sets a status of 99 or NaN, a CR or LF in a header's name or value (given to the constructor, or on a stream) or a character past Latin-1 gets a 500, logged naming the status or header, and the request pipelined after it is answered on its own: never a split or missing response (Node test-http-response-splitting)", async () => {
    const cases: [path: string, logged: RegExp][] = [
      ['/status/99', /response status must be an integer from 200 to 999, got number 99$/],
      ['/status/NaN', /response status must be an integer from 200 to 999, got number NaN$/],
      ['/header/name', /invalid header name "x-a\\r\\nX-Injected"$/],
      ['/header/value', /header x-a has a CR, LF or NUL character in its value, which would split the response: "a\\r\\nX-Injected: 1"$/],
      ['/header/stream', /header x-a has a CR, LF or NUL character in its value/],
      ['/header/unicode', /header x-a has a character beyond Latin-1 in its value \(U\+2192\)/],
    ];
    for (const [path, logged] of cases) {
      const { list, rest } = await exchange(`GET ${path} HTTP/1.1\r\n${HOST}\r\nGET /ok HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`);
      assert.deepEqual(list.map((response) => [response.status, response.body.toString()]), [[500, 'Internal Server Error'], [200, 'ok']], path);
      assert.equal(rest.length, 0, path);
      assert.ok(!list.some((response) => response.headerList.some(([name]) => name === 'x-injected' || name === 'x-a')), path);
      const errors = lines.filter((line) => line.level >= LEVEL.error);
      assert.equal(errors.length, 1, path);
      assert.match(String(errors[0]!.msg), logged, path);
      // The error was the app's: serveForBadInput's check after each test is for bad input only.
      lines.length = 0;
    }
  });
});
