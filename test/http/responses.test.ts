import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  after as afterResponse, createApp, get, HttpResponse, JsonResponse, redirect, route, sqliteStore, StoreUnavailable, StreamingResponse, task, type MiddlewareHooks, type Server, type TaskStore,
} from 'coda-http';
import { connect, deferred, LEVEL, memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';
import { pipelined, request, responses } from '../transport/wire.js';

describe('HttpResponse', () => {
  test('defaults: 200, no body, no content type', () => {
    const response = new HttpResponse();
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
    assert.equal(response.headers.get('content-type'), null);
  });

  test('a string body is UTF-8 text, bytes are octet-stream, a given type wins', () => {
    assert.equal(new HttpResponse('hi').headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(new HttpResponse(new Uint8Array([1])).headers.get('content-type'), 'application/octet-stream');
    const html = new HttpResponse('<p>', { status: 201, headers: { 'Content-Type': 'text/html' } });
    assert.equal(html.headers.get('content-type'), 'text/html');
    assert.equal(html.status, 201);
  });

  test('a status outside 200-999 or not an integer is a RangeError, at construction and when set; a 1xx is named interim (Node sent it as an interim head and took the response as done)', () => {
    for (const status of [99, 1000, 200.5, Number.NaN, 100, 101, 103, 199]) {
      assert.throws(() => new HttpResponse(null, { status }), { name: 'RangeError', message: /^response status must be an integer from 200 to 999, got number / });
      assert.throws(() => (new HttpResponse(null).status = status), { name: 'RangeError', message: /^response status must be an integer from 200 to 999/ });
    }
    assert.throws(() => new HttpResponse(null, { status: 103 }), { message: 'response status must be an integer from 200 to 999, got number 103: a 1xx status is interim, never a final response (RFC 9110 15.2)' });
    for (const status of [200, 999]) assert.equal(new HttpResponse(null, { status }).status, status);
  });

  test('JsonResponse: the value as JSON, a JSON content type, the given status', () => {
    const response = new JsonResponse({ id: 7, tags: ['a'] }, { status: 201 });
    assert.equal(response.body, '{"id":7,"tags":["a"]}');
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    const problem = new JsonResponse({}, { headers: { 'content-type': 'application/problem+json' } });
    assert.equal(problem.headers.get('content-type'), 'application/problem+json');
    assert.equal(new JsonResponse(null).body, 'null');
  });

  test('JsonResponse refuses values JSON cannot encode', () => {
    // @ts-expect-error: undefined is not a JSON value, and the types say so.
    assert.throws(() => new JsonResponse(undefined), { name: 'TypeError', message: /JsonResponse cannot encode undefined/ });
    assert.throws(() => new JsonResponse(() => 1), { name: 'TypeError', message: /JsonResponse cannot encode a function/ });
    assert.throws(() => new JsonResponse({ id: 1n }), { name: 'TypeError', message: /^JsonResponse cannot encode a plain object as JSON: Do not know how to serialize a BigInt \(convert it first/ });
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    assert.throws(() => new JsonResponse(cycle), { name: 'TypeError', message: /^JsonResponse cannot encode a plain object as JSON: Converting circular structure/ });
  });

  /** Runs `refuse`, then a turn of the loop (Node tells of a rejection left unhandled once the microtasks have run), and returns the rejections left unhandled meanwhile. */
  async function unhandledAfter(refuse: () => void): Promise<unknown[]> {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', listener);
    try {
      refuse();
      await new Promise(setImmediate);
    } finally {
      process.off('unhandledRejection', listener);
    }
    return unhandled;
  }

  test('JsonResponse refuses a promise (a view that forgot an await): JSON wrote it as {}, and its rejection, unhandled, ended the process', async () => {
    const message = 'JsonResponse got a promise, which JSON encodes as {}: await it first (new JsonResponse(await value))';
    const unhandled = await unhandledAfter(() => {
      assert.throws(() => new JsonResponse(Promise.resolve({ page: 1 })), { name: 'TypeError', message });
      assert.throws(() => new JsonResponse(Promise.reject(new Error('invalid query string'))), { name: 'TypeError', message });
    });
    assert.deepEqual(unhandled, []);
  });

  test('HttpResponse refuses a promise for a body saying to await it, and its rejection (new HttpResponse(request.text()) past the body limit) does not end the process', async () => {
    const unhandled = await unhandledAfter(() => {
      assert.throws(() => new HttpResponse(Promise.reject(new Error('request body too large')) as never), {
        name: 'TypeError', message: 'HttpResponse: a response body must be a string, a Uint8Array or null, got an instance of Promise (await it first)',
      });
    });
    assert.deepEqual(unhandled, []);
  });

  test('types: JsonResponse does not take undefined, HttpResponse does not take an object', () => {
    // Compiled, never run: each line must be a type error (tsc checks the tests).
    const typeErrors = (): void => {
      // @ts-expect-error: undefined has no JSON form.
      new JsonResponse(undefined);
      // @ts-expect-error: an object is JsonResponse's.
      new HttpResponse({ a: 1 });
      // What compiles.
      new JsonResponse(null);
      new JsonResponse({ a: 1 });
      new JsonResponse([1, 'two']);
      new HttpResponse(new Uint8Array(1));
    };
    assert.equal(typeof typeErrors, 'function');
  });

  test('StreamingResponse takes an async iterable or a Readable, nothing else', () => {
    assert.equal(new StreamingResponse(Readable.from(['x'])).headers.get('content-type'), 'application/octet-stream');
    for (const bad of [null, 'text', ['array'], {}]) {
      assert.throws(() => new StreamingResponse(bad as never), { name: 'TypeError', message: /StreamingResponse takes an async iterable, a Readable or a function returning one/ });
    }
  });

  test('redirect(): 302 by default, the Location, no body', () => {
    const response = redirect('/notes/7');
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/notes/7');
    assert.equal(response.body, null);
    for (const status of [301, 303, 307, 308]) assert.equal(redirect('/x', status).status, status);
  });

  test('redirect() refuses a URL whose scheme is not http, https or ftp, however a browser would still read it (Django DisallowedRedirect)', () => {
    for (const location of ['javascript:alert(1)', 'JavaScript:alert(1)', ' \x01javascript:alert(1)', 'java\tscript:alert(1)', 'jav\nascript:x', 'data:text/html,<script>x</script>', 'vbscript:x']) {
      assert.throws(() => redirect(location), { name: 'TypeError', message: /unsafe redirect to a URL with the scheme '(javascript|data|vbscript):'/ }, JSON.stringify(location));
    }
    for (const location of ['/notes/7', 'https://example.com/a', 'HTTP://example.com', 'ftp://files.example/x', '//example.com/x', '?page=2', 'notes/7', '/a:b']) {
      assert.equal(redirect(location).headers.get('location'), location);
    }
  });

  test("redirect() percent-encodes a location's non-ASCII characters as UTF-8 (Django's iri_to_uri), leaving the rest as given; a lone surrogate is a TypeError", () => {
    assert.equal(redirect('/café').headers.get('location'), '/caf%C3%A9');
    assert.equal(redirect('/日本?q=ü#π').headers.get('location'), '/%E6%97%A5%E6%9C%AC?q=%C3%BC#%CF%80');
    assert.equal(redirect('https://example.com/a%20b?x=1&y=/').headers.get('location'), 'https://example.com/a%20b?x=1&y=/');
    assert.throws(() => redirect('/\ud800'), { name: 'TypeError', message: /redirect\(\): the location .* is not well-formed Unicode/ });
  });

  test("redirect() percent-encodes what a URI cannot hold as Django's iri_to_uri does: a backslash (browsers read /\\evil.example as //evil.example, another host), a space, quotes, <>^`{|} and tab", () => {
    const cases: [location: string, sent: string][] = [
      ['/\\evil.example', '/%5Cevil.example'],
      ['/\\/evil.example', '/%5C/evil.example'],
      ['/a b', '/a%20b'],
      ['/x?q="<a>"', '/x?q=%22%3Ca%3E%22'],
      ['/a^b`{|}', '/a%5Eb%60%7B%7C%7D'],
      ['/a\tb', '/a%09b'],
      ["/k/!$&'()*+,;=:@~-._?x=[1]#top", "/k/!$&'()*+,;=:@~-._?x=[1]#top"],
      ['https://example.com/a b#frag', 'https://example.com/a%20b#frag'],
    ];
    for (const [location, sent] of cases) assert.equal(redirect(location).headers.get('location'), sent, JSON.stringify(location));
  });

  test('redirect() of a location that is not a string (null from request.query.get(), a URL) is a TypeError naming it, not "Cannot read properties of null"', () => {
    assert.throws(() => redirect(null as never), { name: 'TypeError', message: 'redirect() takes the location as a string, got null' });
    assert.throws(() => redirect(new URL('https://app.example/next') as never), { name: 'TypeError', message: 'redirect() takes the location as a string, got an instance of URL (give its href)' });
  });

  test('redirect() with a status that is not a redirect is a RangeError', () => {
    for (const status of [200, 300, 304, 404]) {
      assert.throws(() => redirect('/x', status), { name: 'RangeError', message: new RegExp(`redirect status must be one of .*got ${status}`) });
    }
  });

  test('redirect() to a location with CRLF is refused', () => {
    assert.throws(() => redirect('/x\r\nSet-Cookie: a=1'), { name: 'TypeError', message: /header location/ });
  });
});

describe('responses on the wire', () => {
  const { logger, lines } = memoryLogger();
  // The step-by-step stream: the second chunk is produced only once the client has the first.
  let firstChunkSeen = deferred();
  // The big stream, for backpressure.
  const CHUNK = 64 * 1024;
  const BIG_CHUNKS = 1024; // 64 MiB in all
  let produced = 0;
  let bigFinished = deferred<boolean>();
  let leftEarly = deferred<number>();

  // A stream that counts how many chunks were taken from it.
  let pulled = 0;
  let countedStatus = 200;
  async function* counted() {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield Buffer.alloc(CHUNK, 'c');
    }
  }

  let server: Server;
  before(async () => {
    const app = createApp({
      logger,
      routes: [
        get('/text', () => new HttpResponse('caf\u00e9 \u2603', { headers: { 'x-kind': 'text' } })),
        get('/steps', () => new StreamingResponse((async function* () {
          yield 'one;';
          await firstChunkSeen.promise;
          yield 'two;';
          yield Buffer.from('three');
        })(), { headers: { 'content-type': 'text/plain' } })),
        get('/readable', () => new StreamingResponse(Readable.from([Buffer.from('from '), Buffer.from('a '), Buffer.from('readable')]))),
        get('/big', () => new StreamingResponse((async function* () {
          let completed = false;
          try {
            const chunk = Buffer.alloc(CHUNK, 'x');
            for (let i = 0; i < BIG_CHUNKS; i++) {
              produced += CHUNK;
              yield chunk;
            }
            completed = true;
          } finally {
            bigFinished.resolve(completed);
          }
        })())),
        get('/endless', () => new StreamingResponse((async function* () {
          let n = 0;
          try {
            for (;;) yield Buffer.alloc(CHUNK, n++ % 10);
          } finally {
            leftEarly.resolve(n);
          }
        })())),
        get('/counted', () => new StreamingResponse(counted(), { status: countedStatus })),
        get('/broken-stream', function brokenStream() {
          return new StreamingResponse((async function* () {
            yield 'partial';
            throw new Error('disk on fire');
          })());
        }),
        get('/web', () => {
          const headers = new Headers({ 'x-web': 'yes', 'content-type': 'text/csv' });
          headers.append('set-cookie', 'a=1');
          headers.append('set-cookie', 'b=2');
          return new Response('a,b\n1,2', { status: 201, headers });
        }),
        get('/web-empty', () => new Response(null, { status: 204, headers: { 'x-web': 'empty' } })),
        get('/redirect', () => redirect('/text', 303)),
        route('GET', '/no-content', () => new HttpResponse('ignored', { status: 204 })),
        get('/not-modified', () => new HttpResponse(null, { status: 304, headers: { etag: '"v1"' } })),
        get('/ok', () => new HttpResponse('ok')),
        get('/interim', () => new HttpResponse('early', { status: 103 })),
        get('/interim-set', () => {
          const response = new HttpResponse('switched');
          response.status = 101;
          return response;
        }),
      ],
    });
    server = await startServer(app);
  });
  after(() => server.close({ timeoutMs: 1_000 }));

  test('a string body goes out as UTF-8 with its byte length', async () => {
    const response = await rawRequest(server, rawGet('/text'));
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], String(Buffer.byteLength('caf\u00e9 \u2603')));
    assert.equal(response.headers['x-kind'], 'text');
    assert.equal(response.body.toString('utf8'), 'caf\u00e9 \u2603');
  });

  test('a streaming response from an async generator: chunks arrive while it is still producing', async () => {
    firstChunkSeen = deferred();
    const response = await fetch(`${server.url}/steps`);
    assert.equal(response.headers.get('transfer-encoding'), 'chunked');
    assert.equal(response.headers.get('content-type'), 'text/plain');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    // The generator is blocked until the client has seen the first chunk.
    const first = await reader.read();
    assert.equal(decoder.decode(first.value), 'one;');
    firstChunkSeen.resolve();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value, { stream: true });
    assert.equal(rest, 'two;three');
  });

  test('a streaming response from a Readable', async () => {
    const response = await fetch(`${server.url}/readable`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.equal(await response.text(), 'from a readable');
  });

  test('backpressure: a large generator is not read far ahead of a client that is not reading', async () => {
    produced = 0;
    bigFinished = deferred<boolean>();
    const socket = await connect(server);
    socket.write(rawGet('/big'));
    await once(socket, 'readable');
    socket.pause();
    // Give the server every chance to run ahead: full round trips on other connections.
    for (let i = 0; i < 20; i++) assert.equal(await (await fetch(`${server.url}/ok`)).text(), 'ok');
    const aheadWhilePaused = produced;
    // Kernel socket buffers on both ends hold a few MiB; anything near the full body means no backpressure.
    assert.ok(aheadWhilePaused < 16 * 1024 * 1024, `the generator ran ${aheadWhilePaused} bytes ahead of a paused client`);
    assert.ok(produced < BIG_CHUNKS * CHUNK);

    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await once(socket, 'end');
    assert.equal(await bigFinished.promise, true);
    assert.ok(received > BIG_CHUNKS * CHUNK, 'the whole body arrived once the client read');
    socket.destroy();
  });

  test('a client that goes away mid-stream stops the generator (its finally runs)', async () => {
    leftEarly = deferred<number>();
    const socket = await connect(server);
    socket.write(rawGet('/endless'));
    await once(socket, 'data');
    socket.destroy();
    const chunks = await leftEarly.promise;
    assert.ok(chunks > 0);
  });

  test('a stream that fails mid-way cuts the connection and logs the error with the request id', async () => {
    const socket = await connect(server);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.write(rawGet('/broken-stream', { 'X-Request-Id': 'broken-1' }));
    await once(socket, 'close');
    const raw = Buffer.concat(chunks).toString('latin1');
    assert.ok(!raw.endsWith('0\r\n\r\n'), 'the response must not look complete');
    // What was sent before the failure reaches the client (Node corks a tick's writes: the cut came first, and nothing went).
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /\r\n\r\n7\r\npartial\r\n$/);
    const line = lines.find((l) => l.requestId === 'broken-1' && l.level === LEVEL.error);
    assert.ok(line, 'the failure is logged with the request id');
    assert.match(String(line.msg), /streaming response failed/);
    assert.match(JSON.stringify(line.err), /disk on fire/);
  });

  test('a view may return a Web-standard Response: status, headers, cookies and body', async () => {
    const response = await fetch(`${server.url}/web`);
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('x-web'), 'yes');
    assert.equal(response.headers.get('content-type'), 'text/csv');
    assert.deepEqual(response.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await response.text(), 'a,b\n1,2');
  });

  test('a Web Response without a body', async () => {
    const response = await rawRequest(server, rawGet('/web-empty'));
    assert.equal(response.status, 204);
    assert.equal(response.headers['x-web'], 'empty');
    assert.equal(response.body.length, 0);
  });

  test('a view answering with a 1xx status is a 500 naming it, and the request pipelined behind it gets its own answer (Node sent the 1xx as an interim head, and the client took the next answer for this one)', async () => {
    for (const path of ['/interim', '/interim-set']) {
      const wire = await pipelined(server, [request(path), rawGet('/ok')]);
      const { list } = responses(wire);
      assert.deepEqual(list.map((response) => response.status), [500, 200], wire.toString('latin1'));
      assert.equal(list[1]!.body.toString(), 'ok');
    }
    const logged = lines.filter((line) => line.level === LEVEL.error && /a 1xx status is interim/.test(String((line.err as { message?: string } | undefined)?.message)));
    assert.equal(logged.length, 2, JSON.stringify(lines.filter((line) => line.level === LEVEL.error)));
  });

  test('a redirect on the wire', async () => {
    const response = await fetch(`${server.url}/redirect`, { redirect: 'manual' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/text');
    assert.equal(response.headers.get('content-length'), '0');
    assert.equal(await response.text(), '');
  });

  test('HEAD on a GET route: the GET headers and Content-Length, no body', async () => {
    const response = await rawRequest(server, rawGet('/text', {}, 'HEAD'));
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], String(Buffer.byteLength('caf\u00e9 \u2603')));
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response.headers['x-kind'], 'text');
    assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
  });

  test('HEAD on a streaming GET route sends no body', async () => {
    const response = await rawRequest(server, rawGet('/readable', {}, 'HEAD'));
    assert.equal(response.status, 200);
    assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
  });

  test('HEAD on a streaming GET route does not read the stream (it may never end)', async () => {
    pulled = 0;
    countedStatus = 200;
    const response = await rawRequest(server, rawGet('/counted', {}, 'HEAD'));
    assert.equal(response.status, 200);
    assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
    assert.equal(pulled, 0);
    // GET still streams it all.
    const get = await rawRequest(server, rawGet('/counted'));
    assert.equal(get.body.length, 100 * CHUNK);
    assert.equal(pulled, 100);
  });

  test('a streaming 204 does not read the stream either', async () => {
    pulled = 0;
    countedStatus = 204;
    const response = await rawRequest(server, rawGet('/counted'));
    assert.equal(response.status, 204);
    assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
    assert.equal(pulled, 0);
  });

  test('204 and 304 go out without a body or a Content-Length', async () => {
    for (const path of ['/no-content', '/not-modified']) {
      const response = await rawRequest(server, rawGet(path));
      assert.ok(response.status === 204 || response.status === 304);
      assert.equal(response.headers['content-length'], undefined);
      assert.equal(response.headers['transfer-encoding'], undefined);
      assert.ok(response.raw.toString('latin1').endsWith('\r\n\r\n'), `nothing after the head of ${path}`);
    }
  });
});

test('a StreamingResponse sent twice (a module-level constant returned by a view) is a 500 naming the mistake, never an empty 200; the send still reading it is left alone', async (t) => {
  const release = deferred();
  const held = new StreamingResponse(async function* () {
    yield 'first ';
    await release.promise;
    yield 'last';
  });
  const single = new StreamingResponse(async function* () {
    yield 'once';
  });
  const { logger, lines } = memoryLogger();
  const server = await startServer(createApp({ logger, routes: [get('/held', () => held), get('/once', () => single)] }));
  t.after(() => server.close());
  assert.equal((await rawRequest(server, rawGet('/once'))).body.toString(), 'once');
  const again = await rawRequest(server, rawGet('/once'));
  assert.equal(again.status, 500);
  const refused = 'cannot send the StreamingResponse: it was sent already (returned for another request, or twice), and its stream is read once, as it is sent; make a new StreamingResponse for each request';
  assert.ok(lines.some((line) => line.level === LEVEL.error && line.msg === refused), 'logged, naming the mistake');
  // One client reads the stream; another request returning it is refused, and the first reads on to its end.
  const socket = await connect(server);
  socket.write(rawGet('/held'));
  const [first] = (await once(socket, 'data')) as [Buffer];
  assert.match(first.toString(), /first /);
  assert.equal((await rawRequest(server, rawGet('/held'))).status, 500);
  const rest: Buffer[] = [first];
  socket.on('data', (chunk: Buffer) => rest.push(chunk));
  release.resolve();
  await once(socket, 'close');
  assert.match(Buffer.concat(rest).toString(), /first [\s\S]*last/);
});

test('a shared StreamingResponse whose durable tasks the store refuses (a 503) is not cut for the request streaming it', async (t) => {
  const stream = new PassThrough();
  const shared = new StreamingResponse(stream);
  const noted = task('noted', () => {});
  const memory = sqliteStore({ path: ':memory:' });
  // Every registration refused, as a locked file refuses it.
  const store = new Proxy(memory, {
    get: (target, key) => {
      if (key === 'add') return () => Promise.reject(new StoreUnavailable(memory.description, new Error('database is locked')));
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) as unknown : value;
    },
  }) as TaskStore;
  const server = await startServer(createApp({
    logger: memoryLogger().logger,
    tasks: { definitions: [noted], store },
    routes: [
      get('/plain', () => shared),
      get('/noted', () => { void afterResponse(noted, {}); return shared; }),
    ],
  }));
  t.after(() => server.close());
  const socket = await connect(server);
  const received: Buffer[] = [];
  const closed = once(socket, 'close');
  const started = once(socket, 'data');
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.write(rawGet('/plain'));
  stream.write('first ');
  await started;
  assert.equal((await rawRequest(server, rawGet('/noted'))).status, 503);
  stream.end('last');
  await closed;
  assert.match(Buffer.concat(received).toString(), /first [\s\S]*last\r\n0\r\n\r\n$/, 'the first client reads the stream to its end');
});

test('a StreamingResponse of a Readable that fails before it is sent (a file that is not there, while a processResponse hook holds the response) is its error\'s own 500: the error was uncaught and took the process down', async (t) => {
  let file: Readable | undefined;
  const hold: MiddlewareHooks = {
    async processResponse(_request, response) {
      // The stream has failed (ENOENT) and closed before the response goes on.
      if (!file!.closed) await new Promise((resolve) => file!.once('close', resolve));
      return response;
    },
  };
  const app = createApp({
    logger: memoryLogger().logger,
    middleware: [hold],
    routes: [get('/report', () => new StreamingResponse(file = createReadStream('/no/such/report.csv')))],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const response = await fetch(`${server.url}/report`);
  assert.equal(response.status, 500);
  await response.text();
  assert.equal(file!.errored?.message, "ENOENT: no such file or directory, open '/no/such/report.csv'");
});
