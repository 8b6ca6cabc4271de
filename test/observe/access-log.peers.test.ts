// The access log and the request logger, judged by cases ported from peers'
// own suites: pino-http's test/test.js, morgan's test/morgan.js and Fastify's
// test/logger/*.test.js. Each test's title names the case it ports. Over a real
// socket (serve()), as the network is what these lines describe. The cases
// where Coda deliberately differs are listed in docs/observability.md.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type IncomingHttpHeaders } from 'node:http2';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { pino } from 'pino';
import { createApp, get, HttpError, HttpResponse, serve, StreamingResponse, type App, type AppOptions } from 'coda-http';
import { connect, deferred, LEVEL, memoryLogger, rawRequest, startServer, watchUncaught, type LogLine } from '../helpers.js';
import { selfSigned } from '../server/certificate.js';
import { only, recorder } from './spans.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function accessLines(lines: LogLine[]): LogLine[] {
  return lines.filter((line) => line.durationMs !== undefined);
}

/** A pino logger at debug (with `options`) whose raw output is kept, to count its lines as written. */
function rawLogger(options: pino.LoggerOptions = {}): { logger: pino.Logger; text: () => string; lines: () => LogLine[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  const lines = (): LogLine[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as LogLine);
  return { logger: pino({ level: 'debug', ...options }, stream), text: () => text, lines };
}

async function served(options: AppOptions): Promise<{ app: App; url: string; port: number; close: () => Promise<unknown> }> {
  const app = createApp(options);
  const server = await startServer(app, { host: '127.0.0.1' });
  return { app, url: server.url, port: server.port, close: () => server.close() };
}

test('pino-http "allocate a unique id to every request", Fastify "test log stream": one line per request, each with its own id, the one request.log\'s lines carry', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({
    logger,
    routes: [get('/hello', (request) => {
      request.log.info('some log message');
      return new HttpResponse('world');
    })],
  });
  t.after(server.close);
  for (let i = 0; i < 2; i++) assert.equal(await (await fetch(`${server.url}/hello`)).text(), 'world');
  await server.app.settle();
  const access = accessLines(lines);
  assert.equal(access.length, 2);
  assert.notEqual(access[0]!.requestId, access[1]!.requestId);
  for (const line of access) assert.match(String(line.requestId), UUID);
  const own = lines.filter((line) => line.msg === 'some log message').map((line) => line.requestId);
  assert.deepEqual(own, access.map((line) => line.requestId));
});

test('pino-http "responseTime", morgan ":response-time should be in milliseconds", Fastify "defaults to info level": the line at info with the method, path, status, a duration in ms and the bytes sent', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({ logger, routes: [get('/', () => new HttpResponse('{"hello":"world"}'))] });
  t.after(server.close);
  const started = performance.now();
  await (await fetch(`${server.url}/`)).text();
  const elapsed = performance.now() - started;
  await server.app.settle();
  const [line] = accessLines(lines);
  assert.equal(line!.level, LEVEL.info);
  assert.deepEqual([line!.method, line!.path, line!.status, line!.bytes], ['GET', '/', 200, 17]);
  assert.equal(typeof line!.durationMs, 'number');
  assert.ok((line!.durationMs as number) >= 0 && (line!.durationMs as number) <= elapsed, `${String(line!.durationMs)} ms within the ${elapsed} ms the client waited`);
});

test('Fastify "The request id header key can be customized": the id the configured header brings is request.id, on request.log\'s lines and the access line, and echoed', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({
    logger,
    requestIdHeader: 'my-custom-request-id',
    routes: [get('/', (request) => {
      request.log.info('some log message');
      return new HttpResponse(request.id);
    })],
  });
  t.after(server.close);
  const res = await fetch(`${server.url}/`, { headers: { 'my-custom-request-id': '42' } });
  assert.equal(await res.text(), '42');
  assert.equal(res.headers.get('my-custom-request-id'), '42');
  await server.app.settle();
  assert.deepEqual(lines.filter((line) => line.requestId !== undefined).map((line) => [line.requestId, line.msg]), [
    ['42', 'some log message'],
    ['42', 'GET / 200 ' + String(accessLines(lines)[0]!.durationMs) + ' ms'],
  ]);
});

test('Fastify "The request id header key can be customized" (an invalid id): one too long or with control characters is replaced by a UUID, never logged', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({ logger, requestIdHeader: 'x-request-id', routes: [get('/', (request) => new HttpResponse(request.id))] });
  t.after(server.close);
  const tooLong = 'a'.repeat(201);
  const bodies: string[] = [];
  bodies.push(await (await fetch(`${server.url}/`, { headers: { 'x-request-id': tooLong } })).text());
  // A tab, obs-text and a space, which fetch() will not send: on the wire by hand.
  for (const id of ['ab\tcd', 'caf\xe9', 'a b']) {
    const answer = await rawRequest(server as never, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`, 'latin1'));
    assert.equal(answer.status, 200);
    bodies.push(answer.body.toString('latin1'));
  }
  // Other control characters never reach the app: Node's parser refuses the request, logged without an id.
  const refused = await rawRequest(server as never, 'GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: ab\x01cd\r\n\r\n');
  assert.equal(refused.status, 400);
  await server.app.settle();
  for (const body of bodies) assert.match(body, UUID);
  assert.deepEqual(accessLines(lines).map((line) => line.requestId), bodies);
  assert.deepEqual(lines.filter((line) => line.requestId === undefined).map((line) => [line.status, line.code]), [[400, 'HPE_INVALID_HEADER_TOKEN']]);
});

test('Fastify "should log the error if no error handler is defined", "test error log stream", pino-http "responseTime for errored request": a thrown error is logged once at error with its stack and the request id; the access line says 500; the body tells nothing unless debug', async (t) => {
  for (const debug of [false, true]) {
    const { logger, lines } = memoryLogger();
    const server = await served({
      logger, debug,
      routes: [get('/error', () => {
        throw new Error('a generic error');
      })],
    });
    t.after(server.close);
    const res = await fetch(`${server.url}/error`);
    assert.equal(res.status, 500);
    const body = await res.text();
    await server.app.settle();
    const errors = lines.filter((line) => line.level === LEVEL.error);
    assert.equal(errors.length, 1, 'the error is logged once');
    const [error] = errors;
    const err = error!.err as { message: string; stack: string };
    assert.equal(err.message, 'a generic error');
    assert.match(err.stack, /Error: a generic error\n\s+at /);
    const [access] = accessLines(lines);
    assert.equal(error!.requestId, access!.requestId);
    assert.deepEqual([access!.status, access!.level, accessLines(lines).length], [500, LEVEL.info, 1]);
    assert.ok((access!.durationMs as number) >= 0);
    if (debug) assert.match(body, /Error: a generic error\n\s+at /);
    else assert.equal(body, 'Internal Server Error');
  }
});

test('pino-http "log requests aborted on the server", morgan ":status should not exist for aborted request": a client gone mid-response is one line with aborted, the status sent, the bytes so far and the client\'s address; never two lines, nothing thrown', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = memoryLogger();
  const first = deferred();
  const server = await served({
    logger,
    routes: [get('/delayed', () => new StreamingResponse(async function* (signal) {
      yield 'delayed';
      first.resolve();
      await once(signal, 'abort');
    }))],
  });
  t.after(server.close);
  const socket = await connect(server as never);
  socket.write('GET /delayed HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(socket, 'data');
  await first.promise;
  socket.destroy();
  await server.app.settle();
  const access = accessLines(lines);
  assert.equal(access.length, 1);
  assert.deepEqual([access[0]!.status, access[0]!.aborted, access[0]!.bytes, access[0]!.remoteAddress], [200, true, 7, '127.0.0.1']);
  assert.match(String(access[0]!.msg), /^GET \/delayed 200 [\d.]+ ms \(client went away\)$/);
  assert.deepEqual(uncaught, []);
});

test('pino-http "log requests aborted on the server" (the server\'s own doing): a streamed response the shutdown timeout cuts off is one line saying the server cut it, the status sent and the bytes so far; not "client went away"; over HTTP/1.1 and HTTP/2', async () => {
  const { key, cert } = selfSigned();
  for (const http2Too of [false, true]) {
    const { logger, lines } = memoryLogger();
    const app = createApp({
      logger,
      routes: [get('/feed', () => new StreamingResponse(async function* (signal) {
        yield 'first';
        await once(signal, 'abort');
      }))],
    });
    const tls = http2Too ? { tls: { key, cert }, http2: true } : {};
    const server = await startServer(app, { host: '127.0.0.1', shutdownTimeoutMs: 300, ...tls });
    let stream: NodeJS.EventEmitter;
    if (http2Too) {
      const session = http2.connect(server.url, { ca: cert });
      session.on('error', () => {});
      stream = session.request({ ':path': '/feed' });
    } else {
      const socket = await connect(server);
      socket.write('GET /feed HTTP/1.1\r\nHost: x\r\n\r\n');
      stream = socket;
    }
    stream.on('error', () => {});
    await once(stream, 'data');
    await server.close();
    await app.settle();
    const access = accessLines(lines);
    assert.equal(access.length, 1, JSON.stringify(lines));
    assert.deepEqual([access[0]!.status, access[0]!.aborted, access[0]!.bytes, access[0]!.cutOff], [200, true, 5, 'the shutdown timeout passed'], `http2: ${http2Too}`);
    assert.match(String(access[0]!.msg), /^GET \/feed 200 [\d.]+ ms \(cut off by the server: the shutdown timeout passed\)$/);
  }
});

test("instrumentation-http 'should redact auth from the `url.full` attribute': a password in a request target's user information, or in a Host line, is in no log line (debug included) and no answer; the refusal names the user and REDACTED", async (t) => {
  const { logger, text } = rawLogger();
  const server = await served({ logger, routes: [get('/users/:id', () => new HttpResponse('user'))] });
  t.after(server.close);
  const target = await rawRequest(server as never, 'GET http://alice:s3cret-pw@localhost/users/7 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const host = await rawRequest(server as never, 'GET /users/7 HTTP/1.1\r\nHost: bob:an0ther-pw@localhost\r\nConnection: close\r\n\r\n');
  await server.app.settle();
  assert.equal(target.status, 400);
  assert.equal(target.body.toString(), 'the host "alice:REDACTED@localhost" of the request target "http://alice:REDACTED@localhost/users/7" is not a valid host name with an optional port: user information is refused (RFC 9110 4.2.4)');
  assert.equal(host.status, 400);
  assert.equal(host.body.toString(), 'the Host "bob:REDACTED@localhost" is not a valid host name with an optional port: user information is refused (RFC 9110 4.2.4)');
  assert.match(text(), /alice:REDACTED@localhost/);
  for (const secret of ['s3cret-pw', 'an0ther-pw']) assert.ok(!text().includes(secret), text());
});

test('morgan "should accept special characters", pino-http "does not return excessively long object": hostile bytes in the path, headers and user agent leave each line one valid JSON line', async (t) => {
  const { logger, text } = rawLogger();
  const server = await served({ logger, routes: [get('/*', (request) => new HttpResponse(request.path))] });
  t.after(server.close);
  const targets = ['/a%0Ab%0D%0A{"level":60}', '/q%22uote%5C', '/nul%00x', '/bad%FF%ED%A0%80', '/caf%C3%A9/%E2%80%A8', '/\u00e9raw'];
  for (const target of targets) {
    const answer = await rawRequest(server as never, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\x7f\xff"}\r\nX-Forwarded-For: 1.2.3.4\x00\r\nReferer: \x1b[31m\r\nConnection: close\r\n\r\n`, 'latin1'));
    assert.ok(answer.status > 0, target);
  }
  await server.app.settle();
  const written = text().split('\n');
  assert.equal(written.pop(), '', 'every line ends with a newline');
  const parsed = written.map((line) => JSON.parse(line) as LogLine);
  assert.equal(parsed.filter((line) => line.durationMs !== undefined || line.code !== undefined).length, targets.length, written.join('\n'));
  assert.ok(parsed.every((line) => line.level === LEVEL.info || line.level === LEVEL.debug));
});

test('Fastify and pino-http over HTTP/2: an HTTP/2 request is logged as an HTTP/1.1 one is, and one whose stream the client resets mid-response is one line with aborted', async (t) => {
  const { key, cert } = selfSigned();
  const { logger, lines } = memoryLogger();
  const first = deferred();
  const app = createApp({
    logger,
    routes: [
      get('/users/:id', (request) => new HttpResponse(`user ${request.params.id}`)),
      get('/delayed', () => new StreamingResponse(async function* (signal) {
        yield 'delayed';
        first.resolve();
        await once(signal, 'abort');
      })),
    ],
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false, tls: { key, cert }, http2: true });
  t.after(() => server.close());
  const session = http2.connect(server.url, { ca: cert });
  session.on('error', () => {});
  t.after(() => session.close());
  const stream = session.request({ ':path': '/users/7' });
  const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  let body = '';
  for await (const chunk of stream) body += String(chunk);
  assert.deepEqual([headers[':status'], body], [200, 'user 7']);
  const cancelled = session.request({ ':path': '/delayed' });
  await once(cancelled, 'data');
  await first.promise;
  cancelled.close(http2.constants.NGHTTP2_CANCEL);
  await app.settle();
  const access = accessLines(lines).map(({ method, route, path, status, bytes, remoteAddress, aborted }) => ({ method, route, path, status, bytes, remoteAddress, aborted }));
  assert.deepEqual(access, [
    { method: 'GET', route: '/users/:id', path: '/users/7', status: 200, bytes: 6, remoteAddress: '127.0.0.1', aborted: undefined },
    { method: 'GET', route: '/delayed', path: '/delayed', status: 200, bytes: 7, remoteAddress: '127.0.0.1', aborted: true },
  ]);
});

test('pino-http "does not crash when no request connection object" (a logger that throws): a logger whose every line throws takes neither the request nor the process down', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger } = rawLogger({ mixin() {
    throw new Error('the logger is broken');
  } });
  const server = await served({
    logger,
    routes: [
      get('/ok', () => new HttpResponse('fine')),
      get('/logs', (request) => {
        request.log.info('from the view');
        return new HttpResponse('unreached');
      }),
      get('/error', () => {
        throw new Error('a generic error');
      }),
    ],
  });
  t.after(server.close);
  assert.equal(await (await fetch(`${server.url}/ok`)).text(), 'fine');
  assert.equal((await fetch(`${server.url}/logs`)).status, 500);
  assert.equal((await fetch(`${server.url}/error`)).status, 500);
  assert.equal(await (await fetch(`${server.url}/ok`)).text(), 'fine');
  await server.app.settle();
  assert.deepEqual(uncaught, []);
  assert.equal(((await server.close()) as { requestsInFlightAtClose: number }).requestsInFlightAtClose, 0, 'close() resolves with its report');
});

test('pino-http "does not crash when no request connection object" (the access line alone throws): the response is sent whole, the next request served, the line written again without its fields', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger: broken, lines: written } = rawLogger({ mixin(fields: object) {
    if ('durationMs' in fields) throw new Error('the access line is broken');
    return {};
  } });
  const server = await served({ logger: broken, routes: [get('/ok', (request) => {
    request.log.info('from the view');
    return new HttpResponse('fine');
  })] });
  t.after(server.close);
  for (let i = 0; i < 2; i++) assert.equal(await (await fetch(`${server.url}/ok`)).text(), 'fine');
  await server.app.settle();
  assert.deepEqual(uncaught, []);
  const lines = written();
  assert.equal(lines.filter((line) => line.msg === 'from the view').length, 2);
  // The line is written again without its fields, saying why, as safeLog() writes durable work's.
  assert.deepEqual(lines.filter((line) => line.logFailed !== undefined).map((line) => [line.logFailed, String(line.msg).replace(/[\d.]+ ms$/, 'ms')]), [
    ['the access line is broken', 'GET /ok 200 ms'],
    ['the access line is broken', 'GET /ok 200 ms'],
  ]);
});

test('morgan ":remote-addr should get remote address", "should use req.ip if there": the line names the peer, or the client a trusted proxy forwarded; an untrusted one\'s X-Forwarded-For is not believed', async (t) => {
  for (const trustProxy of [false, '127.0.0.1']) {
    const { logger, lines } = memoryLogger();
    const server = await served({ logger, trustProxy, routes: [get('/', () => new HttpResponse('ok'))] });
    t.after(server.close);
    await (await fetch(`${server.url}/`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).text();
    await server.app.settle();
    assert.deepEqual(accessLines(lines).map((line) => line.remoteAddress), [trustProxy === false ? '127.0.0.1' : '203.0.113.7']);
  }
});

test('Fastify "should log as error if error status code >= 500 if no error handler is defined": a thrown 503 is logged at error with its request id, as an answer the app chose (not an unhandled error), the access line a 503', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({ logger, routes: [get('/503', () => {
    throw new HttpError(503, 'a 503 error');
  })] });
  t.after(server.close);
  assert.equal((await fetch(`${server.url}/503`)).status, 503);
  await server.app.settle();
  const [access] = accessLines(lines);
  assert.deepEqual(lines.filter((line) => line.level === LEVEL.error).map((line) => [line.requestId, line.msg]), [[access!.requestId, 'Service Unavailable from view for /503: a 503 error']]);
  assert.equal(access!.status, 503);
});

test('pino-http "responseTime for request emitting error event": a streamed body that fails once its head is sent is one access line with the status sent and the bytes so far, its error logged once; the process lives on', async (t) => {
  const uncaught = watchUncaught(t);
  const { logger, lines } = memoryLogger();
  const server = await served({ logger, routes: [get('/broken', () => new StreamingResponse((async function* () {
    yield 'part';
    throw new Error('the source broke');
  })()))] });
  t.after(server.close);
  await assert.rejects((await fetch(`${server.url}/broken`)).text());
  await server.app.settle();
  const access = accessLines(lines);
  assert.equal(access.length, 1);
  assert.deepEqual([access[0]!.status, access[0]!.bytes], [200, 4]);
  assert.equal(lines.filter((line) => line.level === LEVEL.error).length, 1);
  assert.equal((lines.find((line) => line.level === LEVEL.error)!.err as { message: string }).message, 'the source broke');
  assert.deepEqual(uncaught, []);
});

test('pino-http "does not crash when no request connection object" (a logger whose child() throws): request.log is the app\'s logger, the error answered 500 and logged, the access line written without its fields', async (t) => {
  const uncaught = watchUncaught(t);
  // A serializer of the field request.log binds: pino runs it in child(), which throws.
  const { logger, lines } = rawLogger({ serializers: { requestId: () => {
    throw new Error('no request ids here');
  } } });
  const server = await served({ logger, routes: [get('/error', () => {
    throw new Error('a generic error');
  })] });
  t.after(server.close);
  const res = await fetch(`${server.url}/error`);
  assert.deepEqual([res.status, await res.text()], [500, 'Internal Server Error']);
  await server.app.settle();
  assert.deepEqual(uncaught, []);
  assert.deepEqual(lines().map((line) => [line.level, (line.err as { message?: string } | undefined)?.message, line.logFailed, String(line.msg).replace(/[\d.]+ ms$/, 'ms')]), [
    [LEVEL.error, 'a generic error', undefined, 'unhandled error in view for /error: a generic error'],
    [LEVEL.info, undefined, 'no request ids here', 'GET /error 500 ms'],
  ]);
});

test('Fastify "should not log the error if error handler is defined and it does not error": an error a processException hook answers is not logged as an error; the access line has the status it chose', async (t) => {
  const { logger, lines } = memoryLogger();
  const server = await served({
    logger,
    middleware: [{ processException: () => new HttpResponse('something bad happened') }],
    routes: [get('/error', () => {
      throw new Error('something happened');
    })],
  });
  t.after(server.close);
  assert.equal(await (await fetch(`${server.url}/error`)).text(), 'something bad happened');
  await server.app.settle();
  assert.deepEqual(lines.filter((line) => line.level >= LEVEL.warn), []);
  assert.deepEqual(accessLines(lines).map((line) => line.status), [200]);
});

test("pino-http under instrumentation-http and instrumentation-pino (log correlation): the access line is written with the request's span active, so a mixin reading it puts the request's trace and span ids on the line, as on request.log's lines", async (t) => {
  const { exporter, tracing } = recorder();
  // What instrumentation-pino's mixin does: the active span's ids on every line.
  const { logger, lines } = rawLogger({
    mixin() {
      const span = trace.getActiveSpan()?.spanContext();
      return span === undefined ? {} : { trace_id: span.traceId, span_id: span.spanId };
    },
  });
  const server = await served({
    logger, tracing,
    routes: [get('/users/:id', (request) => {
      request.log.info('looked up');
      return new HttpResponse('user');
    })],
  });
  t.after(server.close);
  assert.equal((await rawRequest(server as never, 'GET /users/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
  await server.app.settle();
  const span = only(exporter, 'GET /users/:id').spanContext();
  const ids = { trace_id: span.traceId, span_id: span.spanId };
  const [own] = lines().filter((line) => line.msg === 'looked up');
  const [access] = accessLines(lines());
  assert.deepEqual({ trace_id: own!.trace_id, span_id: own!.span_id }, ids);
  assert.deepEqual({ trace_id: access!.trace_id, span_id: access!.span_id }, ids);
});
