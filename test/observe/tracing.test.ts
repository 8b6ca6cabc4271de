// OpenTelemetry tracing: spans recorded by the SDK's in-memory exporter, over
// real sockets. The context manager and the W3C propagator are the global
// ones an SDK registers; the tracer provider is passed to each app.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { after, createApp, get, HttpResponse, JsonResponse, post, runWorker, sqliteStore, StreamingResponse, task, type App, type MiddlewareHooks, type Server } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { canListen, slowRoute, startServer } from '../helpers.js';
import { ParentBasedSampler, SamplingDecision, type Sampler } from '@opentelemetry/sdk-trace-base';
import { named, only, recorder } from './spans.js';
import { clientLeftRoutes } from './client-left.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

async function served(t: TestContext, app: App): Promise<string> {
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  return server.url;
}

test('a SERVER span per request: named {method} {route}, child of the incoming traceparent, with the stable HTTP attributes', async (t) => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, routes: [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))] });
  const url = await served(t, app);
  const res = await fetch(`${url}/users/7?full=1`, { headers: { traceparent: TRACEPARENT, 'user-agent': 'probe/1.0' } });
  assert.equal(res.status, 200);
  await res.text();
  await app.settle();
  const span = only(exporter, 'GET /users/:id');
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.spanContext().traceId, TRACE_ID);
  assert.equal(span.parentSpanContext?.spanId, PARENT_ID);
  const port = Number(new URL(url).port);
  assert.deepEqual(span.attributes, {
    'http.request.method': 'GET',
    'url.path': '/users/7',
    'url.scheme': 'http',
    'network.protocol.version': '1.1',
    'server.address': '127.0.0.1',
    'server.port': port,
    'user_agent.original': 'probe/1.0',
    'client.address': '127.0.0.1',
    'http.route': '/users/:id',
    'http.response.status_code': 200,
  });
  assert.equal(span.status.code, SpanStatusCode.UNSET);
});

/** A GET of `path` from `server` over a connection to `address` (its family's loopback), with `headers` (Host included), as node:http sends it. */
async function getFrom(server: Server, address: string, path: string, headers: Record<string, string>): Promise<number> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request({ host: address, port: server.port, path, headers, agent: false }, resolve).once('error', reject).end();
  });
  response.resume();
  await once(response, 'end');
  return response.statusCode!;
}

test('server.address of a host that is an IPv6 literal is the address without its brackets (`Host: [::1]:8080`: `::1`, port 8080), an empty port the scheme\'s; client.address is the IP address as is, IPv6 and IPv4-mapped (`::ffff:127.0.0.1`) alike', async (t) => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, trustProxy: ['127.0.0.1', '::ffff:127.0.0.1', '::1'], routes: [get('/who', () => new HttpResponse('ok'))] });
  const v4 = await startServer(app, { host: '127.0.0.1' });
  t.after(() => v4.close());
  const asked: Record<string, string>[] = [
    { host: '[::1]:8080' },
    { host: '[2001:db8::7]' },
    { host: 'example.com:' },
    { host: 'api.example:8443', 'x-forwarded-for': '[2001:db8::1]:4711' },
    { host: 'api.example', 'x-forwarded-for': '::ffff:203.0.113.7' },
  ];
  const expected: Record<string, string | number>[] = [
    { 'server.address': '::1', 'server.port': 8080, 'client.address': '127.0.0.1' },
    { 'server.address': '2001:db8::7', 'server.port': 80, 'client.address': '127.0.0.1' },
    { 'server.address': 'example.com', 'server.port': 80, 'client.address': '127.0.0.1' },
    // Forwarded by a trusted proxy: the address without the brackets and port it was written with.
    { 'server.address': 'api.example', 'server.port': 8443, 'client.address': '2001:db8::1' },
    { 'server.address': 'api.example', 'server.port': 80, 'client.address': '::ffff:203.0.113.7' },
  ];
  for (const headers of asked) assert.equal(await getFrom(v4, '127.0.0.1', '/who', headers), 200);
  // The peer itself on IPv6: a connection over ::1, and an IPv4 one to an IPv6 socket (the address Node gives it, IPv4-mapped).
  for (const [listen, from, client] of [['::1', '::1', '::1'], ['::ffff:127.0.0.1', '127.0.0.1', '::ffff:127.0.0.1']] as const) {
    if (!(await canListen(listen))) {
      t.diagnostic(`cannot listen on ${listen} here: its case not run`);
      continue;
    }
    const v6 = await startServer(app, { host: listen });
    t.after(() => v6.close());
    assert.equal(await getFrom(v6, from, '/who', { host: 'localhost:3000' }), 200);
    expected.push({ 'server.address': 'localhost', 'server.port': 3000, 'client.address': client });
  }
  await app.settle();
  const seen = named(exporter, 'GET /who').map(({ attributes }) => ({
    'server.address': attributes['server.address'], 'server.port': attributes['server.port'], 'client.address': attributes['client.address'],
  }));
  assert.deepEqual(seen, expected);
});

test('unrouted requests are named by their method alone; a 5xx sets error.type and the ERROR status, a 4xx does not', async (t) => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, routes: [get('/boom', () => { throw new Error('boom'); })] });
  const url = await served(t, app);
  assert.equal((await fetch(`${url}/nowhere/42`)).status, 404);
  assert.equal((await fetch(`${url}/boom`)).status, 500);
  await app.settle();
  const missed = only(exporter, 'GET');
  assert.equal(missed.attributes['http.route'], undefined);
  assert.equal(missed.attributes['http.response.status_code'], 404);
  assert.equal(missed.attributes['error.type'], undefined);
  assert.equal(missed.status.code, SpanStatusCode.UNSET);
  const failed = only(exporter, 'GET /boom');
  assert.equal(failed.attributes['error.type'], '500');
  assert.equal(failed.status.code, SpanStatusCode.ERROR);
});

test('a request refused with 503 at a full after-response queue is named by its method alone, error.type "503"; a body that fails once its head went out has error.type its error\'s class, the status sent kept', async (t) => {
  const { exporter, tracing } = recorder();
  const slow = slowRoute();
  const app = createApp({
    tracing, accessLog: false, after: { concurrency: 1, maxPending: 1 },
    routes: [slow.route, get('/broken', () => new StreamingResponse(async function* () {
      yield 'first';
      throw new RangeError('the source ran dry');
    }))],
  });
  const url = await served(t, app);
  const broken = await fetch(`${url}/broken`);
  assert.equal(broken.status, 200);
  await assert.rejects(broken.text());
  assert.equal((await fetch(`${url}/slow`)).status, 200);
  await slow.started;
  assert.equal((await fetch(`${url}/slow`)).status, 200);
  assert.equal((await fetch(`${url}/slow`)).status, 503);
  slow.release();
  await app.settle();
  const shed = only(exporter, 'GET');
  assert.equal(shed.attributes['http.route'], undefined);
  assert.equal(shed.attributes['http.response.status_code'], 503);
  assert.equal(shed.attributes['error.type'], '503');
  assert.equal(shed.status.code, SpanStatusCode.ERROR);
  const failed = only(exporter, 'GET /broken');
  assert.equal(failed.attributes['http.response.status_code'], 200);
  assert.equal(failed.attributes['error.type'], 'RangeError');
  assert.equal(failed.status.code, SpanStatusCode.ERROR);
});

test('a request whose client left before the response\'s head went out has no http.response.status_code (none was sent), error.type aborted; one left mid-body keeps the status sent', async (t) => {
  const { exporter, tracing } = recorder();
  const { routes, leave } = clientLeftRoutes();
  const app = createApp({ tracing, accessLog: false, routes });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  await leave(server, app);
  const left = only(exporter, 'GET /left');
  assert.equal(left.attributes['http.response.status_code'], undefined);
  assert.equal(left.attributes['error.type'], 'aborted');
  assert.equal(left.status.code, SpanStatusCode.ERROR);
  const streamed = only(exporter, 'GET /streamed');
  assert.equal(streamed.attributes['http.response.status_code'], 200);
  assert.equal(streamed.attributes['error.type'], 'aborted');
});

test('the request span is active in middleware and the view: what they start is its child', async () => {
  const { exporter, tracing } = recorder();
  const seen: (string | undefined)[] = [];
  const spy: MiddlewareHooks = { processRequest() { seen.push(trace.getActiveSpan()?.spanContext().spanId); } };
  const app = createApp({
    tracing, middleware: [spy],
    routes: [get('/work', async () => {
      await Promise.resolve();
      seen.push(trace.getActiveSpan()?.spanContext().spanId);
      tracing.tracerProvider.getTracer('app').startSpan('query').end();
      return new HttpResponse('done');
    })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.get('/work')).status, 200);
  await client.settle();
  const server = only(exporter, 'GET /work');
  assert.deepEqual(seen, [server.spanContext().spanId, server.spanContext().spanId]);
  assert.equal(only(exporter, 'query').parentSpanContext?.spanId, server.spanContext().spanId);
});

test('after() tasks: a CONSUMER span `process {task}` each, child of and linked to the request span, active while the task runs', async () => {
  const { exporter, tracing } = recorder();
  let activeInTask: string | undefined;
  const app = createApp({
    tracing,
    routes: [post('/notes', () => {
      after(() => { activeInTask = trace.getActiveSpan()?.spanContext().spanId; }, { name: 'index-note' });
      after(async () => { throw new TypeError('webhook down'); }, { name: 'webhook' });
      return new HttpResponse('saved', { status: 201 });
    })],
  });
  await using client = createTestClient(app);
  assert.equal((await client.post('/notes', { headers: { 'x-request-id': 'req-1' } })).status, 201);
  await client.settle();
  const request = only(exporter, 'POST /notes').spanContext();
  const indexed = only(exporter, 'process index-note');
  assert.equal(indexed.kind, SpanKind.CONSUMER);
  assert.equal(indexed.spanContext().traceId, request.traceId);
  assert.equal(indexed.parentSpanContext?.spanId, request.spanId);
  assert.deepEqual(indexed.links.map((link) => link.context.spanId), [request.spanId]);
  assert.equal(activeInTask, indexed.spanContext().spanId);
  assert.deepEqual(indexed.attributes, {
    'messaging.system': 'coda',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': 'index-note',
    'coda.request.id': 'req-1',
    'coda.task.state': 'completed',
  });
  const webhook = only(exporter, 'process webhook');
  assert.equal(webhook.status.code, SpanStatusCode.ERROR);
  assert.equal(webhook.status.message, 'webhook down');
  assert.equal(webhook.attributes['error.type'], 'TypeError');
  assert.equal(webhook.attributes['coda.task.state'], 'failed');
  assert.equal(webhook.events[0]?.name, 'exception');
});

test('durable tasks: the request trace context is journaled, and each attempt (a retry too) continues that trace', async () => {
  const { exporter, tracing } = recorder();
  let calls = 0;
  const flaky = task('flaky', () => {
    if (++calls === 1) throw new Error('first attempt fails');
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 1000 } });
  const app = createApp({
    tracing, tasks: { definitions: [flaky] },
    routes: [post('/jobs', () => new HttpResponse('queued', { status: 202 }).after(flaky, {}))],
  });
  await using client = createTestClient(app);
  assert.equal((await client.post('/jobs')).status, 202);
  await client.settle();
  const request = only(exporter, 'POST /jobs').spanContext();
  const [stored] = await app.tasks.list({ name: 'flaky' });
  assert.deepEqual(stored!.trace, { traceparent: `00-${request.traceId}-${request.spanId}-01` });
  const attempts = named(exporter, 'process flaky');
  assert.deepEqual(attempts.map((span) => [span.attributes['coda.task.attempt'], span.attributes['coda.task.state']]), [[1, 'retrying'], [2, 'completed']]);
  for (const span of attempts) {
    assert.equal(span.kind, SpanKind.CONSUMER);
    assert.equal(span.spanContext().traceId, request.traceId);
    assert.equal(span.parentSpanContext?.spanId, request.spanId);
    assert.deepEqual(span.links.map((link) => link.context.spanId), [request.spanId]);
    assert.equal(span.attributes['messaging.message.id'], stored!.id);
  }
  assert.equal(attempts[0]!.status.code, SpanStatusCode.ERROR);
});

test('a durable task run by another process (runWorker on the same store) continues the trace of the request that registered it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-trace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const web = recorder();
  const sendWelcome = task('send-welcome', () => {});
  // The web app journals only; the worker, with its own store connection and tracer, runs.
  const app = createApp({
    tracing: web.tracing, tasks: { definitions: [sendWelcome], store: sqliteStore({ path: file }), run: false },
    routes: [post('/users', () => {
      void after(sendWelcome, { userId: 'u1' });
      return new HttpResponse('created', { status: 201 });
    })],
  });
  const url = await served(t, app);
  assert.equal((await fetch(`${url}/users`, { method: 'POST', headers: { traceparent: TRACEPARENT } })).status, 201);
  await app.settle();
  const request = only(web.exporter, 'POST /users').spanContext();
  assert.equal(request.traceId, TRACE_ID);

  const worker = recorder();
  const attemptEnded = worker.ended('process send-welcome');
  const running = await runWorker({ definitions: [sendWelcome], store: sqliteStore({ path: file }), tracing: worker.tracing, handleSignals: false, pollMs: 10 });
  t.after(() => running.close());
  await attemptEnded;
  const attempt = only(worker.exporter, 'process send-welcome');
  assert.equal(attempt.spanContext().traceId, TRACE_ID);
  assert.equal(attempt.parentSpanContext?.spanId, request.spanId);
});

test('tracing is off unless asked for; `tracing: true` takes the global tracer provider; a bad tracing option is refused', async () => {
  const { exporter, tracing } = recorder();
  trace.setGlobalTracerProvider(tracing.tracerProvider);
  const active: (string | undefined)[] = [];
  const routes = [get('/', () => {
    active.push(trace.getActiveSpan()?.spanContext().spanId);
    return new HttpResponse('hi');
  })];
  await using plain = createTestClient(createApp({ routes }));
  assert.equal((await plain.get('/')).status, 200);
  await plain.settle();
  assert.deepEqual(active, [undefined]);
  assert.deepEqual(exporter.getFinishedSpans(), []);
  await using traced = createTestClient(createApp({ routes, tracing: true }));
  assert.equal((await traced.get('/')).status, 200);
  await traced.settle();
  assert.deepEqual(active, [undefined, only(exporter, 'GET /').spanContext().spanId]);
  assert.throws(() => createApp({ tracing: 'yes' as never }), /createApp\(\): tracing must be true, false or an options object, got string "yes"/);
  await assert.rejects(runWorker({ definitions: [task('t', () => {})], store: sqliteStore({ path: ':memory:' }), tracing: 1 as never }), /runWorker\(\): tracing must be true, false or an options object/);
});

test('a span active when the request reaches Coda (made by what received it) is the server span: Coda\'s is its INTERNAL child; one ended, or of another trace than the traceparent\'s, is not', async (t) => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, accessLog: false, routes: [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))] });
  const outer = tracing.tracerProvider.getTracer('host');
  // A host that received the request and continued its traceparent, as instrumentation-http or a framework's instrumentation does.
  await outer.startActiveSpan('GET', { kind: SpanKind.SERVER }, trace.setSpanContext(context.active(), { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true }), async (host) => {
    const answer = await app.fetch(new Request('http://example.com/users/7', { headers: { traceparent: TRACEPARENT } }));
    assert.equal(answer.status, 200);
    await answer.text();
    host.end();
  });
  // A span active where the server started listening, carried into its connections: the request's traceparent is another trace's.
  const url = await outer.startActiveSpan('boot', async (boot) => {
    boot.end();
    return served(t, app);
  });
  const res = await fetch(`${url}/users/8`, { headers: { traceparent: `00-${'1'.repeat(32)}-${PARENT_ID}-01` } });
  await res.text();
  // Ended, it is no request's server span: with no traceparent, the request's is a trace of its own.
  await (await fetch(`${url}/users/9`)).text();
  await app.settle();
  const [nested, own, root] = named(exporter, 'GET /users/:id');
  assert.equal(nested?.kind, SpanKind.INTERNAL);
  assert.equal(nested.parentSpanContext?.spanId, only(exporter, 'GET').spanContext().spanId);
  assert.equal(nested.spanContext().traceId, TRACE_ID);
  assert.equal(own?.kind, SpanKind.SERVER);
  assert.equal(own.spanContext().traceId, '1'.repeat(32));
  assert.equal(own.parentSpanContext?.spanId, PARENT_ID);
  assert.equal(root?.kind, SpanKind.SERVER);
  assert.equal(root.parentSpanContext, undefined);
});

test('a span active where serve() was called is no request\'s parent, ended or open, sampled or not; one not sampled around app.fetch still is', async (t) => {
  // ParentBased, as the SDK's default: a request under a span not sampled is dropped with it.
  const dropBoot: Sampler = {
    shouldSample: (_context, _traceId, name) => ({ decision: name === 'boot' ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED }),
    toString: () => 'drop boot',
  };
  const { exporter, tracing } = recorder(new ParentBasedSampler({ root: dropBoot }));
  const app = createApp({ tracing, accessLog: false, routes: [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))] });
  const tracer = tracing.tracerProvider.getTracer('host');
  // A start-up span a ratio sampler dropped, ended, active where serve() was called.
  const unsampled = await tracer.startActiveSpan('boot', async (boot) => {
    assert.equal(boot.isRecording(), false);
    boot.end();
    return served(t, app);
  });
  await (await fetch(`${unsampled}/users/1`)).text();
  // One sampled and still open (a span around the whole main()).
  await tracer.startActiveSpan('main', async (main) => {
    const open = await served(t, app);
    await (await fetch(`${open}/users/2`)).text();
    main.end();
  });
  // A host's server span not sampled, active around app.fetch: it received the request, which is dropped with it.
  await tracer.startActiveSpan('boot', async (host) => {
    await (await app.fetch(new Request('http://example.com/users/3'))).text();
    host.end();
  });
  await app.settle();
  const spans = named(exporter, 'GET /users/:id');
  assert.deepEqual(spans.map((span) => span.attributes['url.path']), ['/users/1', '/users/2']);
  for (const span of spans) {
    assert.equal(span.kind, SpanKind.SERVER);
    assert.equal(span.parentSpanContext, undefined);
  }
});

test('an in-process test client made inside a span is no server started there: the requests it makes inside that span are its INTERNAL children, as those of a client made outside it', async () => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, accessLog: false, routes: [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))] });
  const tracer = tracing.tracerProvider.getTracer('test');
  await using outside = createTestClient(app);
  const parents = [
    await tracer.startActiveSpan('outside', async (span) => {
      await outside.get('/users/1');
      span.end();
      return span.spanContext().spanId;
    }),
    await tracer.startActiveSpan('inside', async (span) => {
      await using inside = createTestClient(app);
      await inside.get('/users/2');
      span.end();
      return span.spanContext().spanId;
    }),
  ];
  await app.settle();
  const spans = named(exporter, 'GET /users/:id');
  assert.deepEqual(spans.map((span) => span.attributes['url.path']), ['/users/1', '/users/2']);
  assert.deepEqual(spans.map((span) => [span.kind, span.parentSpanContext?.spanId]), parents.map((parent) => [SpanKind.INTERNAL, parent]));
});

test('a remote span context made active around app.fetch (a host that carries trace context in its own envelope) is the parent of Coda\'s SERVER span', async () => {
  const { exporter, tracing } = recorder();
  const app = createApp({ tracing, accessLog: false, routes: [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))] });
  const remote = trace.setSpanContext(context.active(), { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true });
  await context.with(remote, async () => { await (await app.fetch(new Request('http://example.com/users/7'))).text(); });
  await app.settle();
  const span = only(exporter, 'GET /users/:id');
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.spanContext().traceId, TRACE_ID);
  assert.equal(span.parentSpanContext?.spanId, PARENT_ID);
});
