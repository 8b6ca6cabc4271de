// serve(app, { tls, http2: true }): HTTP/2 over TLS with HTTP/1.1 for clients
// that do not offer h2, over real sockets with node:http2's and node:https'
// clients and a certificate made at test time.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import {
  after as afterResponse, createApp, get, HttpResponse, JsonResponse, post, serve, StreamingResponse,
  type App, type HttpRequest, type Outcome, type Server,
} from 'coda-http';
import type { Http2SecureServer, Http2ServerRequest } from 'node:http2';
import { Registry } from 'prom-client';
import { deferred, memoryLogger } from '../helpers.js';
import { selfSigned } from './certificate.js';
import { frame, rawExchange, rawSession } from './h2-frames.js';

const { key, cert } = selfSigned();

function startH2(app: App, options: { keepAliveTimeoutMs?: number; requestTimeoutMs?: number; sendTimeoutMs?: number } = {}): Promise<Server<Http2SecureServer>> {
  return serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true, ...options });
}

function connectH2(server: { url: string }): ClientHttp2Session {
  const session = http2.connect(server.url, { ca: cert });
  session.on('error', () => {});
  return session;
}

async function* chunks(...parts: string[]): AsyncGenerator<string> {
  yield* parts;
}

interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on `session`; resolves once the response's stream has ended. */
async function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Response> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [responseHeaders] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') };
}

/** Sends `request` as it is over HTTP/1.1 (ALPN without h2) to `server`; resolves with what came back once the server closed the connection. */
async function http1Exchange(server: { port: number }, request: string): Promise<string> {
  const socket = tls.connect({ port: server.port, host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.write(request);
  await once(socket, 'close');
  return text;
}

describe('HTTP/2', () => {
  const outcomes: { path: string; outcome: Outcome }[] = [];
  const seen: { headers: Record<string, string | null>; raw: string | undefined; version: string | undefined }[] = [];
  const app = createApp({
    logger: memoryLogger().logger,
    bodyLimit: 64 * 1024,
    middleware: [{
      afterResponse(request, _response, outcome) {
        outcomes.push({ path: request.path, outcome });
      },
    }],
    routes: [
      get('/hello', (request) => {
        seen.push({
          headers: { host: request.headers.get('host'), ':path': request.headers.get(':path'), 'x-test': request.headers.get('x-test') },
          raw: request.raw?.constructor.name,
          version: request.raw?.httpVersion,
        });
        return new HttpResponse('hello over h2', { headers: { 'content-type': 'text/plain' } });
      }),
      post('/echo', async (request) => new JsonResponse({ got: await request.json(), length: (await request.bytes()).length })),
      post('/size', async (request) => new HttpResponse(String((await request.bytes()).length))),
      get('/hop-by-hop', () => new HttpResponse('clean', {
        headers: { connection: 'keep-alive', 'keep-alive': 'timeout=5', upgrade: 'websocket', 'proxy-connection': 'keep-alive', 'transfer-encoding': 'chunked', te: 'gzip', 'x-kept': 'yes' },
      })),
      get('/hop-by-hop-stream', () => new StreamingResponse(chunks('a', 'b'), { headers: { connection: 'close', 'keep-alive': 'timeout=5' } })),
      get('/stream', () => new StreamingResponse(chunks('one,', 'two,', 'three'))),
    ],
  });
  let server: Server<Http2SecureServer>;
  let session: ClientHttp2Session;
  after(async () => {
    session?.close();
    await server?.close({ timeoutMs: 1_000 });
  });

  test('GET: the view sees HTTP/1.1-style headers (Host from :authority, no pseudo-headers) and the after-response hook a completed outcome', async () => {
    server = await startH2(app);
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    session = connectH2(server);
    const response = await h2request(session, { ':path': '/hello', 'x-test': 'yes' });
    assert.equal(response.status, 200);
    assert.equal(response.body, 'hello over h2');
    assert.equal(response.headers['content-length'], '13');
    assert.deepEqual(seen.at(-1), { headers: { host: `127.0.0.1:${server.port}`, ':path': null, 'x-test': 'yes' }, raw: 'Http2ServerRequest', version: '2.0' });
    await app.settle();
    const { outcome } = outcomes.find((o) => o.path === '/hello')!;
    assert.equal(outcome.completed, true);
    assert.equal(outcome.aborted, false);
    assert.equal(outcome.bytesSent, 13);
    assert.equal(outcome.status, 200);
  });

  test('a Host other than the :authority is a 400 naming both (RFC 9113 8.3.1: the app took Host, a proxy routing by :authority another host); the same host in other letters is served', async () => {
    const before = seen.length;
    const refused = await h2request(session, { ':path': '/hello', ':authority': 'localhost', host: 'admin.internal' });
    assert.equal(refused.status, 400);
    assert.equal(refused.body, 'the request\'s Host "admin.internal" differs from its :authority "localhost" (RFC 9113 8.3.1)');
    assert.equal(seen.length, before, 'the view did not run');
    const served = await h2request(session, { ':path': '/hello', ':authority': 'LocalHost', host: 'localhost' });
    assert.equal(served.status, 200);
    assert.equal(seen.at(-1)!.headers.host, 'localhost');
  });

  test('a Host and an :authority that differ only by the default port, or an empty one, are the same authority (RFC 9110 4.2.3); another port is not', async () => {
    for (const [authority, host] of [['localhost', 'localhost:443'], ['localhost:443', 'LOCALHOST'], ['localhost:', 'localhost'], ['[::1]:443', '[::1]']]) {
      const served = await h2request(session, { ':path': '/hello', ':authority': authority, host });
      assert.equal(served.status, 200, `${authority} and ${host}`);
    }
    for (const [authority, host] of [['localhost', 'localhost:80'], ['localhost', 'localhost:8443'], ['localhost:4430', 'localhost']]) {
      const refused = await h2request(session, { ':path': '/hello', ':authority': authority, host });
      assert.equal(refused.status, 400, `${authority} and ${host} over https`);
      assert.match(refused.body, /differs from its :authority/);
    }
  });

  test('h2c (http2.createServer(app.handler)): port 80 is the default, 443 is not', async (t) => {
    const cleartext = http2.createServer(app.handler);
    cleartext.listen(0, '127.0.0.1');
    await once(cleartext, 'listening');
    const { port } = cleartext.address() as { port: number };
    const h2c = http2.connect(`http://127.0.0.1:${port}`);
    t.after(async () => {
      h2c.close();
      cleartext.close();
      await once(cleartext, 'close');
    });
    assert.equal((await h2request(h2c, { ':path': '/hello', ':authority': 'a.example', host: 'a.example:80' })).status, 200);
    assert.equal((await h2request(h2c, { ':path': '/hello', ':authority': 'a.example:80', host: 'a.example' })).status, 200);
    assert.equal((await h2request(h2c, { ':path': '/hello', ':authority': 'a.example', host: 'a.example:443' })).status, 400);
  });

  test('POST: the view reads a JSON body, and a body of many DATA frames whole', async () => {
    const json = await h2request(session, { ':method': 'POST', ':path': '/echo', 'content-type': 'application/json' }, JSON.stringify({ text: 'hi' }));
    assert.equal(json.status, 200);
    assert.deepEqual(JSON.parse(json.body), { got: { text: 'hi' }, length: 13 });
    const big = Buffer.alloc(60_000, 'x'); // several DATA frames, more than the initial 16 KiB frame size
    const sized = await h2request(session, { ':method': 'POST', ':path': '/size' }, big);
    assert.deepEqual([sized.status, sized.body], [200, '60000']);
  });

  test('a body past bodyLimit is a 413 naming the limit; the session stays usable', async () => {
    const tooBig = await h2request(session, { ':method': 'POST', ':path': '/size' }, Buffer.alloc(100_000, 'x'));
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.body, /request body too large: more than 65536 bytes, the limit is 65536 bytes/);
    const declared = await h2request(session, { ':method': 'POST', ':path': '/size', 'content-length': '100000' }, Buffer.alloc(100_000, 'x'));
    assert.equal(declared.status, 413);
    assert.match(declared.body, /Content-Length 100000/);
    assert.equal((await h2request(session, { ':path': '/hello' })).status, 200, 'the same session answers the next request');
  });

  test('connection-specific headers the app set are never sent (RFC 9113 8.2.2): fixed and streamed bodies', async () => {
    const fixed = await h2request(session, { ':path': '/hop-by-hop' });
    assert.deepEqual([fixed.status, fixed.body, fixed.headers['x-kept']], [200, 'clean', 'yes']);
    for (const name of ['connection', 'keep-alive', 'upgrade', 'proxy-connection', 'transfer-encoding', 'te']) assert.equal(fixed.headers[name], undefined, name);
    const streamed = await h2request(session, { ':path': '/hop-by-hop-stream' });
    assert.deepEqual([streamed.status, streamed.body, streamed.headers.connection, streamed.headers['keep-alive']], [200, 'ab', undefined, undefined]);
  });

  test('a streamed body arrives whole; its tasks run after the stream ended, with the bytes counted', async () => {
    const response = await h2request(session, { ':path': '/stream' });
    assert.equal(response.body, 'one,two,three');
    await app.settle();
    const { outcome } = outcomes.find((o) => o.path === '/stream')!;
    assert.deepEqual([outcome.completed, outcome.bytesSent], [true, 13]);
  });

  test('HTTP/1.1 clients (no h2 in ALPN) are served by the same server', async () => {
    const { status, body, version } = await new Promise<{ status: number; body: string; version: string }>((resolve, reject) => {
      https.get(`${server.url}/hello`, { ca: cert, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, version: res.httpVersion }));
      }).on('error', reject);
    });
    assert.deepEqual([status, body, version], [200, 'hello over h2', '1.1']);
    assert.deepEqual(seen.at(-1), { headers: { host: `127.0.0.1:${server.port}`, ':path': null, 'x-test': null }, raw: 'IncomingMessage', version: '1.1' });
  });

  test('CONNECT: over HTTP/2 a request the router answers; over HTTP/1.1 on the same port a 501 saying this is no proxy', async () => {
    const h2 = await h2request(session, { ':method': 'CONNECT', ':authority': 'evil.example:443' });
    assert.deepEqual([h2.status, h2.body], [404, 'no route for CONNECT evil.example:443']);
    const text = await http1Exchange(server, 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 501 Not Implemented\r\n[^]*\r\n\r\nCONNECT evil\.example:443 is not supported: this server is not a proxy$/);
  });

  test('over HTTP/1.1 on the same port, a Transfer-Encoding other than chunked alone is a 501 naming it, as on an HTTP/1.1 server', async () => {
    const text = await http1Exchange(server, 'POST /size HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 501 Not Implemented\r\n[^]*\r\n\r\nthe request's Transfer-Encoding "gzip, chunked" is not supported: this server decodes chunked alone \(RFC 9112 6\.1\)\n$/);
  });
});

describe('HTTP/2: client aborts and shutdown', () => {
  test('floods (CVE-2023-44487 rapid resets, SETTINGS): the session is ended, others are served, every reset stream\'s tasks run with an aborted outcome', { timeout: 10_000 }, async () => {
    const released = deferred();
    const outcomes: Outcome[] = [];
    let views = 0;
    const app = createApp({
      logger: memoryLogger().logger,
      routes: [
        get('/flood', async () => {
          views++;
          afterResponse(({ outcome }) => void outcomes.push(outcome));
          await released.promise;
          return new HttpResponse('late');
        }),
        get('/ok', () => new HttpResponse('ok')),
      ],
    });
    const server = await startH2(app);
    try {
      // HEADERS (END_STREAM | END_HEADERS) for GET /flood, then RST_STREAM CANCEL, for 5,000 streams: static-table
      // :method GET, :scheme https, then :path and :authority as literals without indexing.
      const block = Buffer.from([0x82, 0x87, 0x04, 6, ...Buffer.from('/flood'), 0x01, 9, ...Buffer.from('localhost')]);
      const resets: Buffer[] = [];
      for (let id = 1; id < 10_000; id += 2) resets.push(frame(1, 0x5, id, block), frame(3, 0, id, Buffer.from([0, 0, 0, 8])));
      await rawSession(server.port, cert, resets);
      await rawSession(server.port, cert, Array.from({ length: 20_000 }, () => frame(4, 0, 0)));
      const session = connectH2(server);
      assert.equal((await h2request(session, { ':path': '/ok' })).body, 'ok');
      session.close();
      released.resolve();
      await app.settle();
      assert.ok(views > 0 && views < 5_000, `Node ended the session before it opened all 5,000 streams (${views} views ran)`);
      assert.equal(outcomes.length, views, 'each view\'s task ran');
      assert.ok(outcomes.every((outcome) => outcome.aborted && !outcome.completed), 'each reset stream is an aborted outcome');
      assert.equal(app.requestsInFlight, 0);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('rapid resets (CVE-2023-44487) start at most 100 views of a session at once: streams past them wait, past 400 waiting the session is ended (GOAWAY ENHANCE_YOUR_CALM), and a waiting stream its client reset never reaches the app', async () => {
    const released = deferred();
    const { logger, lines } = memoryLogger();
    const outcomes: Outcome[] = [];
    let views = 0;
    const app = createApp({
      logger,
      routes: [get('/flood', async () => {
        views++;
        afterResponse(({ outcome }) => void outcomes.push(outcome));
        await released.promise;
        return new HttpResponse('late');
      })],
    });
    const server = await startH2(app);
    try {
      // HEADERS (END_STREAM | END_HEADERS) for GET /flood, then RST_STREAM CANCEL, for 5,000 streams (Node's own limit ended the session after 1,142).
      const block = Buffer.from([0x82, 0x87, 0x04, 6, ...Buffer.from('/flood'), 0x01, 9, ...Buffer.from('localhost')]);
      const resets: Buffer[] = [];
      for (let id = 1; id < 10_000; id += 2) resets.push(frame(1, 0x5, id, block), frame(3, 0, id, Buffer.from([0, 0, 0, 8])));
      const frames = await rawSession(server.port, cert, resets);
      assert.equal(views, 100, 'views started for the session\'s streams');
      const goaway = frames.find((f) => f.type === 7);
      assert.equal(goaway?.payload.readUInt32BE(4), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      const warned = lines.filter((l) => l.level === 40 && /^HTTP\/2 session ended \(GOAWAY ENHANCE_YOUR_CALM\): its client reset streams whose views still ran, until 400 more requests waited/.test(String(l.msg)));
      assert.deepEqual(warned.map((l) => [l.remoteAddress, l.running, l.waiting]), [['127.0.0.1', 100, 400]], 'one warning, naming the client');
      released.resolve();
      await app.settle();
      assert.equal(views, 100, 'the streams that waited, all reset, never reached the app');
      assert.equal(outcomes.length, 100);
      assert.ok(outcomes.every((outcome) => outcome.aborted && !outcome.completed));
      assert.equal(app.requestsInFlight, 0);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('rapid resets with bodies (HEADERS, DATA, RST_STREAM, 5,000 streams): streams Node had still to emit when it ended the session never reach the app; the process stays up (their session read undefined, a TypeError that took it down), others are served, every view that ran has its task run', async () => {
    const { logger, lines } = memoryLogger();
    const counts = { views: 0, ran: 0 };
    const app = createApp({
      logger,
      routes: [
        post('/flood', async (request) => {
          counts.views++;
          afterResponse(() => void counts.ran++);
          return new HttpResponse(String((await request.bytes()).length));
        }),
        get('/ok', () => new HttpResponse('ok')),
      ],
    });
    const server = await startH2(app);
    try {
      // :method POST, :scheme https, then :path and :authority as literals without indexing.
      const block = Buffer.from([0x83, 0x87, 0x04, 6, ...Buffer.from('/flood'), 0x01, 9, ...Buffer.from('localhost')]);
      const frames: Buffer[] = [];
      for (let id = 1; id < 10_000; id += 2) frames.push(frame(1, 0x4, id, block), frame(0, 0, id, Buffer.from('abc')), frame(3, 0, id, Buffer.from([0, 0, 0, 8])));
      const got = await rawSession(server.port, cert, frames);
      assert.notEqual(got.find((f) => f.type === 7), undefined, 'Node ended the session (GOAWAY)');
      const session = connectH2(server);
      assert.equal((await h2request(session, { ':path': '/ok' })).body, 'ok');
      session.close();
      await app.settle();
      assert.ok(counts.views < 5_000, `${counts.views} views ran`);
      assert.equal(counts.ran, counts.views, 'each view\'s task ran');
      assert.equal(app.requestsInFlight, 0);
      assert.deepEqual(lines.filter((line) => line.level >= 50), [], 'nothing is logged as a server error');
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a request past 100 of its session still in the app (their streams reset, their views at work) waits for one to end, then is served', async () => {
    const released = deferred();
    const allStarted = deferred();
    let held = 0;
    let okStarted = false;
    const app = createApp({
      logger: memoryLogger().logger,
      routes: [
        get('/hold', async () => {
          if (++held === 100) allStarted.resolve();
          await released.promise;
          return new HttpResponse('late');
        }),
        get('/ok', () => {
          okStarted = true;
          return new HttpResponse('ok');
        }),
      ],
    });
    const server = await startH2(app);
    const session = connectH2(server);
    try {
      const holds = Array.from({ length: 100 }, () => session.request({ ':path': '/hold' }).on('error', () => {}));
      await allStarted.promise;
      for (const stream of holds) stream.close(http2.constants.NGHTTP2_CANCEL);
      // Node's own listener has handed the stream to the app by the time this one hears it.
      const arrived = new Promise<boolean>((resolve) => server.server.on('stream', (_stream, headers) => {
        if (headers[':path'] === '/ok') resolve(okStarted);
      }));
      const ok = h2request(session, { ':path': '/ok' });
      assert.equal(await arrived, false, 'the view has not started while 100 of its session\'s are at work');
      released.resolve();
      assert.equal((await ok).body, 'ok');
      await app.settle();
      assert.equal(app.requestsInFlight, 0);
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a request waiting behind 100 reset streams whose body does not arrive in time gets its 408, and is logged and counted as a refusal before the app', async () => {
    const released = deferred();
    const allStarted = deferred();
    const { logger, lines } = memoryLogger();
    const registry = new Registry();
    let held = 0;
    let uploads = 0;
    const app = createApp({
      logger,
      metrics: { registry, defaultMetrics: false },
      routes: [
        get('/hold', async () => {
          if (++held === 100) allStarted.resolve();
          await released.promise;
          return new HttpResponse('late');
        }),
        post('/upload', () => (uploads++, new HttpResponse('read'))),
      ],
    });
    const server = await startH2(app, { requestTimeoutMs: 300 });
    const session = connectH2(server);
    try {
      const holds = Array.from({ length: 100 }, () => session.request({ ':path': '/hold' }).on('error', () => {}));
      await allStarted.promise;
      for (const stream of holds) stream.close(http2.constants.NGHTTP2_CANCEL);
      // Its server stream closed: the server has done with it (Node's own listener heard the stream first).
      const closed = new Promise((resolve) => server.server.on('stream', (serverStream, headers) => {
        if (headers[':path'] === '/upload') resolve(once(serverStream, 'close'));
      }));
      const stream = session.request({ ':method': 'POST', ':path': '/upload' });
      stream.on('error', () => {});
      stream.write('the start of a body that never ends');
      const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
      assert.equal(headers[':status'], 408);
      await closed;
      released.resolve();
      await app.settle();
      assert.equal(uploads, 0, 'the app never saw it');
      const logged = lines.filter((line) => String(line.msg).startsWith('request refused before the app'));
      assert.deepEqual(logged.map(({ status, remoteAddress, msg }) => ({ status, remoteAddress, msg })), [
        { status: 408, remoteAddress: '127.0.0.1', msg: 'request refused before the app: 408 the request did not arrive in time' },
      ]);
      assert.match(await registry.metrics(), /^coda_requests_refused_total\{status_code="408"\} 1$/m);
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('at most 100 streams of a session at once (SETTINGS_MAX_CONCURRENT_STREAMS): the 101st and later are refused (REFUSED_STREAM, which a client retries), even before the client acknowledged the SETTINGS; the 100 are served', async () => {
    const released = deferred();
    const app = createApp({
      logger: memoryLogger().logger,
      routes: [post('/upload', async (request) => {
        const text = await request.text();
        await released.promise;
        return new HttpResponse(text);
      })],
    });
    const server = await startH2(app);
    try {
      // 150 POST /upload streams, their bodies never sent: :method POST, :scheme https, :path and :authority as literals.
      const block = Buffer.from([0x83, 0x87, 0x04, 7, ...Buffer.from('/upload'), 0x01, 9, ...Buffer.from('localhost')]);
      const opens = Array.from({ length: 150 }, (_, n) => frame(1, 0x4, 2 * n + 1, block));
      let inFlight = -1;
      const frames = await rawExchange(server.port, cert, opens, (received) => {
        if (received.filter((f) => f.type === 3).length < 50) return false;
        inFlight = app.requestsInFlight;
        return true;
      });
      const resets = frames.filter((f) => f.type === 3);
      assert.deepEqual(resets.map((f) => f.id), Array.from({ length: 50 }, (_, n) => 2 * (n + 100) + 1));
      assert.ok(resets.every((f) => f.payload.readUInt32BE(0) === http2.constants.NGHTTP2_REFUSED_STREAM), 'REFUSED_STREAM');
      assert.equal(inFlight, 100);
      released.resolve();
      await app.settle();
      assert.equal(app.requestsInFlight, 0);
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a stream the client resets (RST_STREAM) mid-body: the stream stops, and the tasks run with an aborted outcome', async () => {
    const outcome = deferred<Outcome>();
    const streamStopped = deferred();
    const app = createApp({
      logger: memoryLogger().logger,
      routes: [get('/endless', () => {
        afterResponse(({ outcome: o }) => outcome.resolve(o));
        return new StreamingResponse(async function* (signal) {
          signal.addEventListener('abort', () => streamStopped.resolve());
          for (let i = 0; ; i++) {
            yield `chunk ${i}\n`;
            await new Promise((resolve) => setImmediate(resolve));
          }
        });
      })],
    });
    const server = await startH2(app);
    const session = connectH2(server);
    try {
      const stream = session.request({ ':path': '/endless' });
      const [first] = (await once(stream, 'data')) as [Buffer];
      assert.match(first.toString(), /^chunk 0/);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const o = await outcome.promise;
      await streamStopped.promise;
      assert.equal(o.aborted, true);
      assert.equal(o.completed, false);
      assert.equal(o.status, 200);
      assert.ok(o.bytesSent > 0, 'the bytes written before the reset are counted');
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a stream reset while the view works: the late answer is dropped, nothing fails, the tasks run with an aborted outcome', async () => {
    const { logger, lines } = memoryLogger();
    const outcomes: Outcome[] = [];
    /** A view that answers once the client has reset its stream. */
    const late = (respond: () => HttpResponse) => async (request: HttpRequest) => {
      afterResponse(({ outcome }) => void outcomes.push(outcome));
      await once((request.raw as Http2ServerRequest).stream, 'close');
      return respond();
    };
    const app = createApp({
      logger,
      routes: [
        get('/late', late(() => new HttpResponse('too late'))),
        get('/late-stream', late(() => new StreamingResponse(chunks('too', 'late')))),
      ],
    });
    const server = await startH2(app);
    const session = connectH2(server);
    try {
      for (const path of ['/late', '/late-stream']) {
        const stream = session.request({ ':path': path });
        stream.on('error', () => {});
        while (app.requestsInFlight === 0) await new Promise((resolve) => setImmediate(resolve));
        stream.close(http2.constants.NGHTTP2_CANCEL);
        await app.settle();
      }
      assert.deepEqual(outcomes.map((o) => [o.aborted, o.completed]), [[true, false], [true, false]]);
      assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'nothing logged as an error');
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a client still sending its body when the response is whole is stopped (RST_STREAM NO_ERROR): the answer arrives whole, the tasks run now', async () => {
    const outcomes = new Map<string, Outcome>();
    const app = createApp({
      logger: memoryLogger().logger,
      bodyLimit: 1_000,
      middleware: [{ afterResponse: (request, _response, outcome) => void outcomes.set(request.path, outcome) }],
      routes: [
        post('/upload', async (request) => new HttpResponse(String((await request.bytes()).length))),
        post('/early', () => new HttpResponse('no need, '.repeat(100_000))), // past the flow-control window: the RST waits for all of it
      ],
    });
    const server = await startH2(app);
    const session = connectH2(server);
    try {
      for (const [path, status, body] of [['/upload', 413, /the limit is 1000 bytes/], ['/early', 200, /^(no need, ){100000}$/]] as const) {
        const stream = session.request({ ':method': 'POST', ':path': path });
        stream.write(Buffer.alloc(5_000)); // and never ends its request
        const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
        let text = '';
        for await (const chunk of stream) text += String(chunk);
        assert.equal(headers[':status'], status);
        assert.match(text, body);
        if (!stream.closed) await once(stream, 'close');
        assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, path);
      }
      await app.settle();
      assert.deepEqual([...outcomes.values()].map((o) => [o.status, o.completed]), [[413, true], [200, true]]);
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('requestTimeoutMs: a body that has not all arrived in time is a 408 and its stream closed, on every such stream; the view reading it sees a client gone, its tasks run aborted (with the 408); a body in time is served however long its view takes', async () => {
    const outcomes = new Map<string, Outcome>();
    const readErrors: string[] = [];
    const timedOut = deferred();
    const app = createApp({
      logger: memoryLogger().logger,
      middleware: [{ afterResponse: (request, _response, outcome) => void outcomes.set(request.headers.get('x-n')!, outcome) }],
      routes: [
        post('/upload', async (request) => {
          try {
            return new HttpResponse(await request.text());
          } catch (error) {
            readErrors.push((error as Error).message);
            throw error;
          }
        }),
        // Its body is whole at once; it answers only after the slow ones were refused, past the timeout.
        post('/slow-view', async (request) => {
          const text = await request.text();
          await timedOut.promise;
          return new HttpResponse(text);
        }),
      ],
    });
    const server = await startH2(app, { requestTimeoutMs: 300 });
    const session = connectH2(server);
    try {
      const inTime = h2request(session, { ':method': 'POST', ':path': '/slow-view', 'x-n': 'in-time' }, 'whole');
      const slow = Array.from({ length: 5 }, async (_, n) => {
        const stream = session.request({ ':method': 'POST', ':path': '/upload', 'x-n': String(n) });
        stream.on('error', () => {});
        stream.write('the start of a body that never ends');
        const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
        let text = '';
        for await (const chunk of stream) text += String(chunk);
        return { status: headers[':status'], text };
      });
      const refused = await Promise.all(slow);
      timedOut.resolve();
      assert.deepEqual(refused, Array.from({ length: 5 }, () => ({ status: 408, text: 'the request did not arrive in time\n' })));
      const served = await inTime;
      assert.equal(served.status, 200);
      assert.equal(served.body, 'whole');
      await app.settle();
      assert.deepEqual(readErrors.length, 5);
      // Recorded with the 408 the server sent in the app's stead.
      for (let n = 0; n < 5; n++) {
        const outcome = outcomes.get(String(n));
        assert.deepEqual([outcome?.aborted, outcome?.completed, outcome?.status, outcome?.headersSent], [true, false, 408, true], `stream ${n}`);
      }
      assert.deepEqual([outcomes.get('in-time')?.status, outcomes.get('in-time')?.completed], [200, true]);
      assert.equal(app.requestsInFlight, 0);
    } finally {
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('sendTimeoutMs: a stream whose client gives it no window is reset (CANCEL) once none of its output has moved for the timeout, fixed or streamed, with a warning naming it; its tasks run aborted; a quiet stream is not cut', async () => {
    const { logger, lines } = memoryLogger();
    const outcomes = new Map<string, Outcome>();
    const stalledCut = deferred();
    const app = createApp({
      logger,
      middleware: [{ afterResponse: (request, _response, outcome) => void outcomes.set(request.path, outcome) }],
      routes: [
        get('/big', () => new HttpResponse(Buffer.alloc(1024 * 1024))),
        get('/stream', () => new StreamingResponse(async function* (signal) {
          while (!signal.aborted) yield Buffer.alloc(64 * 1024);
        })),
        // Nothing to send while the others stall: never cut.
        get('/quiet', () => new StreamingResponse(async function* () {
          yield 'a';
          await stalledCut.promise;
          yield 'b';
        })),
      ],
    });
    const server = await startH2(app, { sendTimeoutMs: 300 });
    const session = connectH2(server);
    const stalled = http2.connect(server.url, { ca: cert, settings: { initialWindowSize: 0 } });
    stalled.on('error', () => {});
    try {
      const quiet = h2request(session, { ':path': '/quiet' });
      const resets = await Promise.all(['/big', '/stream'].map(async (path) => {
        const stream = stalled.request({ ':path': path });
        stream.on('error', () => {});
        await once(stream, 'close');
        return stream.rstCode;
      }));
      stalledCut.resolve();
      assert.deepEqual(resets, [http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
      assert.deepEqual(await quiet.then((r) => [r.status, r.body]), [200, 'ab']);
      await app.settle();
      assert.deepEqual(['/big', '/stream', '/quiet'].map((path) => outcomes.get(path)?.completed), [false, false, true]);
      const warned = lines.filter((l) => String(l.msg).includes("took none of the response for 300 ms (serve()'s sendTimeoutMs)")).map((l) => l.url);
      assert.deepEqual(warned.sort(), ['/big', '/stream']);
    } finally {
      stalled.destroy();
      session.close();
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('close(): the session gets a GOAWAY, the request in flight is answered whole and its task runs, then the report', async () => {
    const viewEntered = deferred();
    const release = deferred();
    const taskRan = deferred<Outcome>();
    const app = createApp({
      logger: memoryLogger().logger,
      routes: [get('/slow', async () => {
        viewEntered.resolve();
        await release.promise;
        afterResponse(({ outcome }) => taskRan.resolve(outcome), { name: 'audit' });
        return new HttpResponse('finally');
      })],
    });
    const server = await startH2(app);
    const session = connectH2(server);
    const goaway = once(session, 'goaway');
    const sessionClosed = once(session, 'close');
    const answer = h2request(session, { ':path': '/slow' });
    await viewEntered.promise;
    const closing = server.close({ timeoutMs: 5_000 });
    const [code] = (await goaway) as [number];
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    release.resolve();
    const response = await answer;
    assert.deepEqual([response.status, response.body], [200, 'finally']);
    assert.equal(response.headers.connection, undefined, 'no Connection: close on HTTP/2: the GOAWAY said it');
    const report = await closing;
    assert.equal((await taskRan.promise).completed, true);
    assert.equal(report.requestsInFlightAtClose, 1);
    assert.equal(report.tasksCompleted, 1);
    assert.deepEqual(report.tasksAbandoned, []);
    await sessionClosed;
  });

  test('close(): an idle session is closed at once', async () => {
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/', () => new HttpResponse('ok'))] });
    const server = await startH2(app);
    const session = connectH2(server);
    assert.equal((await h2request(session, { ':path': '/' })).status, 200);
    const sessionClosed = once(session, 'close');
    const report = await server.close({ timeoutMs: 5_000 });
    await sessionClosed;
    assert.equal(report.requestsInFlightAtClose, 0);
  });

  test('close(): at the deadline, a request still running is cut and its session destroyed', async () => {
    const never = deferred();
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/hang', () => never.promise.then(() => new HttpResponse('late')))] });
    const server = await startH2(app);
    const session = connectH2(server);
    const stream = session.request({ ':path': '/hang' });
    stream.on('error', () => {});
    const streamClosed = once(stream, 'close');
    while (app.requestsInFlight === 0) await new Promise((resolve) => setImmediate(resolve));
    const report = await server.close({ timeoutMs: 100 });
    await streamClosed;
    assert.equal(report.requestsInFlightAtClose, 1);
    assert.notEqual(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the stream did not end normally');
    never.resolve();
  });

  test('a session with no open stream for keepAliveTimeoutMs is closed; one waiting for its response is not', async () => {
    const release = deferred();
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/', () => new HttpResponse('ok')), get('/wait', () => release.promise.then(() => new HttpResponse('waited')))] });
    const server = await startH2(app, { keepAliveTimeoutMs: 50 });
    try {
      const busy = connectH2(server);
      const waiting = h2request(busy, { ':path': '/wait' });
      const idle = connectH2(server);
      assert.equal((await h2request(idle, { ':path': '/' })).status, 200);
      await once(idle, 'close');
      assert.equal(busy.closed, false, 'the session with a request in flight stays open');
      release.resolve();
      assert.equal((await waiting).body, 'waited');
      busy.close();
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a session that only sends PINGs and SETTINGS after its last stream is closed at keepAliveTimeoutMs: idle means no stream, not no frame', async () => {
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/', () => new HttpResponse('ok'))] });
    const server = await startH2(app, { keepAliveTimeoutMs: 300 });
    try {
      const session = connectH2(server);
      assert.equal((await h2request(session, { ':path': '/' })).status, 200);
      const goaway = once(session, 'goaway');
      let sent = 0;
      let closed = false;
      // A PING or a SETTINGS every 50 ms, each answered, six in each keepAliveTimeoutMs, for ten times that at most.
      while (!closed && sent < 60) {
        await new Promise<void>((resolve) => (sent % 2 === 0 ? session.ping(() => resolve()) : session.settings({ enablePush: false }, () => resolve())));
        sent++;
        closed = await Promise.race([goaway.then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, 50, false))]);
      }
      assert.ok(closed, `the session was still open after ${sent} frames`);
      assert.ok(sent >= 4, `the GOAWAY came after ${sent} frames, before keepAliveTimeoutMs`);
      session.destroy();
    } finally {
      await server.close({ timeoutMs: 1_000 });
    }
  });

  test('a session whose header block never ends (HEADERS without END_HEADERS, no CONTINUATION: a slowloris) is sent its GOAWAY at keepAliveTimeoutMs, then cut: it was held for good', { timeout: 10_000 }, async () => {
    const app = createApp({ logger: memoryLogger().logger, routes: [get('/', () => new HttpResponse('ok'))] });
    const server = await startH2(app, { keepAliveTimeoutMs: 100 });
    let socket: tls.TLSSocket | undefined;
    try {
      socket = tls.connect({ port: Number(new URL(server.url).port), host: '127.0.0.1', ca: cert, servername: 'localhost', ALPNProtocols: ['h2'] });
      socket.on('error', () => {});
      const received: Buffer[] = [];
      socket.on('data', (data: Buffer) => received.push(data));
      await once(socket, 'secureConnect');
      // :method GET, :scheme https, :path / (HPACK's static table), and no END_HEADERS.
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0), frame(1, 0, 1, [0x82, 0x87, 0x84])]));
      await once(socket, 'close');
      assert.ok(Buffer.concat(received).includes(Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0])), 'a GOAWAY came first');
    } finally {
      socket?.destroy();
      await server.close({ timeoutMs: 1_000 });
    }
  });
});
