// Tracing cases ported from OpenTelemetry JS's own suites, with the SDK's
// in-memory exporter over real sockets: instrumentation-http
// (test/functionals/http-enable.test.ts, utils.test.ts) and the W3C trace
// context propagator (packages/opentelemetry-core/test/common/trace/
// W3CTraceContextPropagator.test.ts). Each test names its source.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { after as afterResponse, createApp, get, HttpResponse, NotFound, sqliteStore, StreamingResponse, task, type App, type MiddlewareFactory, type MiddlewareHooks, type Server } from 'coda-http';
import { connect, deferred, memoryLogger, rawGet, rawRequest, startServer } from '../helpers.js';
import { only, recorder } from './spans.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';

describe('server spans, as OpenTelemetry JS tests them', { timeout: 10_000 }, () => {
  const { exporter, tracing, ended } = recorder();
  const release = deferred();
  /** The trace id the view saw active, by request id. */
  const seen = new Map<string, string | undefined>();
  let app: App;
  let server: Server;
  before(async () => {
    app = createApp({
      tracing,
      routes: [
        get('/users/:id', (request) => {
          seen.set(request.id, trace.getActiveSpan()?.spanContext().traceId);
          return new HttpResponse('user');
        }),
        get('/hang', () => new StreamingResponse((async function* () {
          yield 'first';
          await release.promise;
        })())),
      ],
    });
    server = await startServer(app, { host: '127.0.0.1' });
  });
  after(async () => {
    release.resolve();
    await server.close();
  });
  const ask = async (target: string, headers: Record<string, string> = {}, method = 'GET') => {
    exporter.reset();
    seen.clear();
    const response = await rawRequest(server, rawGet(target, headers, method));
    await app.settle();
    const [span, ...more] = exporter.getFinishedSpans();
    assert.equal(more.length, 0, `one span for ${method} ${target}`);
    return { status: response.status, span: span! };
  };

  test("W3CTraceContextPropagator 'should gracefully handle an invalid traceparent header': each is ignored, the request gets a trace of its own", async () => {
    const invalid = {
      tooShort: '00-ffffffffffffffffffffffffffffffff',
      versionNotHex: '0x-ffffffffffffffffffffffffffffffff-ffffffffffffffff-00',
      traceIdAllZeros: `00-00000000000000000000000000000000-${PARENT_ID}-01`,
      traceIdNotHex: `00-fffffffffffffffffffffffffffffffx-${PARENT_ID}-01`,
      spanIdAllZeros: `00-${TRACE_ID}-0000000000000000-01`,
      futureVersionFF: `ff-${TRACE_ID}-${PARENT_ID}-01`,
      version00ExtraFields: `00-${TRACE_ID}-${PARENT_ID}-01-extra`,
      upperCase: `00-${TRACE_ID.toUpperCase()}-${PARENT_ID.toUpperCase()}-01`,
      notATraceparent: 'invalid!',
      twoJoined: `00-${TRACE_ID}-${PARENT_ID}-01, 00-${TRACE_ID}-${PARENT_ID}-01`,
    };
    for (const [name, traceparent] of Object.entries(invalid)) {
      const { status, span } = await ask('/users/7', { traceparent, tracestate: 'vendor=x' });
      assert.equal(status, 200, name);
      assert.equal(span.name, 'GET /users/:id', name);
      assert.equal(span.parentSpanContext, undefined, `${name}: no parent`);
      assert.notEqual(span.spanContext().traceId, TRACE_ID, name);
    }
  });

  test("W3CTraceContextPropagator 'using a future version (and future fields)': the trace is continued, and active in the view", async () => {
    for (const traceparent of [`cc-${TRACE_ID}-${PARENT_ID}-01`, `cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-will-be-like`]) {
      const { span } = await ask('/users/7', { traceparent });
      assert.equal(span.spanContext().traceId, TRACE_ID);
      assert.equal(span.parentSpanContext?.spanId, PARENT_ID);
      assert.deepEqual([...seen.values()], [TRACE_ID]);
    }
  });

  test("an incoming parent that was not sampled (flags 00): no span is recorded, and the view still runs in the caller's trace", async () => {
    exporter.reset();
    seen.clear();
    const response = await rawRequest(server, rawGet('/users/7', { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` }));
    assert.equal(response.status, 200);
    await app.settle();
    assert.deepEqual(exporter.getFinishedSpans(), []);
    assert.deepEqual([...seen.values()], [TRACE_ID]);
  });

  test("instrumentation-http 'should accept QUERY as a known HTTP req method'; an unknown method is _OTHER with http.request.method_original, named HTTP", async () => {
    const query = await ask('/users/7', {}, 'QUERY');
    assert.equal(query.span.attributes['http.request.method'], 'QUERY');
    assert.equal(query.span.attributes['http.request.method_original'], undefined);
    assert.equal(query.span.name, 'QUERY');
    const purge = await ask('/users/7', {}, 'PURGE');
    assert.equal(purge.status, 405);
    assert.equal(purge.span.name, 'HTTP');
    assert.equal(purge.span.attributes['http.request.method'], '_OTHER');
    assert.equal(purge.span.attributes['http.request.method_original'], 'PURGE');
    const app = createApp({ tracing, routes: [get('/users/:id', () => new HttpResponse('user'))] });
    exporter.reset();
    await (await app.fetch(new Request('http://localhost/users/7', { method: 'INVENTED' }))).text();
    await app.settle();
    assert.equal(only(exporter, 'HTTP').attributes['http.request.method_original'], 'INVENTED');
  });

  test('a path no route matched, under a route with a parameter, never names the span: cardinality stays that of the routes', async () => {
    for (const [target, method, status] of [['/users/7/extra', 'GET', 404], ['/users/7', 'POST', 405], ['/users', 'GET', 404]] as const) {
      const { span, status: got } = await ask(target, {}, method);
      assert.equal(got, status);
      assert.equal(span.name, method);
      assert.equal(span.attributes['http.route'], undefined);
      assert.equal(span.attributes['url.path'], target);
    }
  });

  test("instrumentation-http 'should not throw with cyrillic characters in the request path': url.path as sent, percent-encoded", async () => {
    const { status, span } = await ask('/users/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82?lang=ru');
    assert.equal(status, 200);
    assert.equal(span.name, 'GET /users/:id');
    assert.equal(span.attributes['url.path'], '/users/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82');
  });

  test("instrumentation-http 'should have 2 ended span when client prematurely close': the server span ends once, error.type aborted", async () => {
    exporter.reset();
    const spanEnded = ended('GET /hang');
    const socket = await connect(server);
    socket.write(rawGet('/hang'));
    await once(socket, 'data');
    socket.destroy();
    const span = await spanEnded;
    assert.equal(span.kind, SpanKind.SERVER);
    assert.equal(span.attributes['error.type'], 'aborted');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    await app.settle();
    assert.equal(exporter.getFinishedSpans().length, 1);
  });
});

/** Who asked, and for what: the attributes a proxy may forward. */
const where = (attributes: Attributes) => ({
  client: attributes['client.address'], scheme: attributes['url.scheme'], host: attributes['server.address'], port: attributes['server.port'],
});

describe('client.address, url.scheme and server.address, as instrumentation-http reads them', { timeout: 10_000 }, () => {
  const forwarded = { forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https;host=api.example' };
  const spanOf = async (trustProxy: boolean) => {
    const { exporter, tracing } = recorder();
    const app = createApp({ tracing, trustProxy, routes: [get('/users/:id', () => new HttpResponse('user'))] });
    const server = await startServer(app, { host: '127.0.0.1' });
    after(() => server.close());
    assert.equal((await rawRequest(server, rawGet('/users/7', forwarded))).status, 200);
    await app.settle();
    return where(only(exporter, 'GET /users/:id').attributes);
  };

  test("utils.test.ts 'handles IPv6 addresses containing brackets in forwarded header': from a proxy the app trusts, the client, scheme and host it forwarded", async () => {
    assert.deepEqual(await spanOf(true), { client: '2001:db8:cafe::17', scheme: 'https', host: 'api.example', port: 443 });
  });

  test('from a proxy the app does not trust (the default), forwarded headers are ignored: instrumentation-http would believe any client', async () => {
    assert.deepEqual(await spanOf(false), { client: '127.0.0.1', scheme: 'http', host: 'localhost', port: 80 });
  });

  test("app.fetch: the Web Request's URL gives url.scheme and server.address (the port the scheme's); no network.protocol.version, which a Web Request does not tell (it said 1.1 of any)", async () => {
    const { exporter, tracing } = recorder();
    const app = createApp({ tracing, routes: [get('/users/:id', () => new HttpResponse('user'))] });
    await (await app.fetch(new Request('https://api.example/users/7'))).text();
    await app.settle();
    const { attributes } = only(exporter, 'GET /users/:id');
    assert.deepEqual(where(attributes), { client: undefined, scheme: 'https', host: 'api.example', port: 443 });
    assert.equal(attributes['network.protocol.version'], undefined);
  });
});

test("instrumentation-http 'should have 2 ended span when server prematurely close': a view still running when the shutdown timeout cuts its connection has its span ended, its request counted and logged, once", { timeout: 30_000 }, async () => {
  const { exporter, tracing } = recorder();
  const { logger, lines } = memoryLogger();
  const registry = new Registry();
  const inView = deferred();
  const release = deferred();
  const app = createApp({
    tracing, logger, metrics: { registry, defaultMetrics: false },
    routes: [get('/hang', async () => {
      inView.resolve();
      await release.promise;
      return new HttpResponse('late');
    })],
  });
  const server = await startServer(app, { host: '127.0.0.1', shutdownTimeoutMs: 300 });
  const socket = await connect(server);
  socket.on('error', () => {});
  socket.write(rawGet('/hang'));
  await inView.promise;
  assert.equal((await server.close()).requestsInFlightAtClose, 1);
  const span = only(exporter, 'GET /hang');
  assert.equal(span.attributes['error.type'], 'aborted');
  assert.equal(span.attributes['http.response.status_code'], undefined, 'nothing was sent');
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  const counted = /^http_request_duration_seconds_count\{method="GET",route="\/hang",status_code="499"\} 1$/m;
  assert.match(await registry.metrics(), counted);
  const access = lines.filter((line) => line.durationMs !== undefined);
  assert.equal(access.length, 1, JSON.stringify(lines));
  assert.equal(access[0]!.status, 499);
  assert.match(String(access[0]!.msg), /^GET \/hang 499 [\d.]+ ms \(cut off by the server: its view was still running when shutdown gave up on it\)$/);
  // The view answers after all: what it ends is observed no second time.
  release.resolve();
  await app.settle();
  assert.equal(exporter.getFinishedSpans().length, 1);
  assert.match(await registry.metrics(), counted);
  assert.equal(lines.filter((line) => line.durationMs !== undefined).length, 1);
});

test("instrumentation-express 'captures sync middleware errors', 'captures async middleware errors': what a view or a middleware threw is on the 500's span, an exception event and the status's message; a 4xx thrown records none", async (t) => {
  const { exporter, tracing } = recorder();
  class LedgerError extends Error {
    override name = 'LedgerError';
  }
  const failing: MiddlewareHooks = {
    async processRequest(request) {
      if (request.path === '/middleware') throw new TypeError('middleware broke');
    },
  };
  const app = createApp({
    tracing, accessLog: false, middleware: [failing],
    routes: [
      get('/sync', () => {
        throw new LedgerError('ledger unbalanced');
      }),
      get('/middleware', () => new HttpResponse('unreached')),
      get('/missing', () => {
        throw new NotFound('no such ledger');
      }),
    ],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  // Middleware runs before routing: its failure's span is named by the method alone.
  const cases = [
    ['/sync', 'GET /sync', 500, 'LedgerError', 'ledger unbalanced'],
    ['/middleware', 'GET', 500, 'TypeError', 'middleware broke'],
    ['/missing', 'GET /missing', 404, undefined, undefined],
  ] as const;
  for (const [path, name, status, type, message] of cases) {
    exporter.reset();
    assert.equal((await rawRequest(server, rawGet(path))).status, status);
    await app.settle();
    const span = only(exporter, name);
    const exceptions = span.events.filter((event) => event.name === 'exception');
    if (type === undefined) {
      assert.deepEqual([span.status, exceptions], [{ code: SpanStatusCode.UNSET }, []], path);
      continue;
    }
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message }, path);
    assert.equal(span.attributes['error.type'], '500');
    assert.equal(exceptions.length, 1, path);
    assert.equal(exceptions[0]!.attributes?.['exception.type'], type);
    assert.equal(exceptions[0]!.attributes?.['exception.message'], message);
  }
});

test("instrumentation-express 'should preserve baggage set by middleware in downstream handlers': baggage a middleware makes active is the view's, and its after() task's, under the request's span", async (t) => {
  const { exporter, tracing } = recorder();
  const seen: Record<string, string | undefined> = {};
  const withBaggage: MiddlewareFactory = (getResponse) => (request) => {
    const baggage = propagation.createBaggage({ 'tenant.id': { value: 'acme' } });
    return context.with(propagation.setBaggage(context.active(), baggage), () => getResponse(request));
  };
  const ran = deferred();
  const app = createApp({
    tracing, accessLog: false, middleware: [withBaggage],
    routes: [get('/ledger', () => {
      seen.view = propagation.getActiveBaggage()?.getEntry('tenant.id')?.value;
      afterResponse(() => {
        seen.task = propagation.getActiveBaggage()?.getEntry('tenant.id')?.value;
        seen.taskParent = trace.getActiveSpan()?.spanContext().spanId;
        ran.resolve();
      }, { name: 'audit' });
      return new HttpResponse('ok');
    })],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  assert.equal((await rawRequest(server, rawGet('/ledger'))).status, 200);
  await ran.promise;
  await app.settle();
  assert.deepEqual([seen.view, seen.task], ['acme', 'acme']);
  assert.equal(seen.taskParent, only(exporter, 'process audit').spanContext().spanId);
  assert.equal(only(exporter, 'process audit').parentSpanContext?.spanId, only(exporter, 'GET /ledger').spanContext().spanId);
});

test("instrumentation-pino's log correlation: the line of a failed after() task, one that timed out, and of a failed durable attempt carry their task span's trace and span ids", async () => {
  const { exporter, tracing } = recorder();
  const lines: Record<string, unknown>[] = [];
  // What instrumentation-pino's mixin does: the active span's ids on every line.
  const mixin = (): object => {
    const span = trace.getActiveSpan()?.spanContext();
    return span === undefined ? {} : { trace_id: span.traceId, span_id: span.spanId };
  };
  const correlated = pino({ mixin }, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      callback();
    },
  }));
  const charge = task('charge', () => {
    throw new Error('card declined');
  }, { attempts: 1 });
  const app = createApp({
    logger: correlated, tracing, accessLog: false,
    after: { timeoutMs: 50 },
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [get('/order', () => {
      afterResponse(() => {
        throw new Error('audit broke');
      }, { name: 'audit' });
      afterResponse(() => new Promise(() => {}), { name: 'stuck' });
      afterResponse(charge, {});
      return new HttpResponse('ok');
    })],
  });
  await (await app.fetch(new Request('http://localhost/order'))).text();
  await app.settle();
  for (const [name, message] of [['audit', /^after-response task audit failed/], ['stuck', /^after-response task stuck failed/], ['charge', /^durable task charge failed for good/]] as const) {
    const span = only(exporter, `process ${name}`).spanContext();
    const line = lines.find((each) => message.test(String(each.msg)));
    assert.deepEqual({ trace_id: line?.trace_id, span_id: line?.span_id }, { trace_id: span.traceId, span_id: span.spanId }, name);
  }
});
