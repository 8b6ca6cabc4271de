// Coda beside OpenTelemetry's own instrumentation-http, which makes a SERVER
// span for every request a node:http server receives: Coda's request span is
// its INTERNAL child (as the Express and Koa instrumentations' spans are),
// never a second SERVER span. A file of its own: the instrumentation patches
// node:http for the whole process.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test, type TestContext } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { after, createApp, get, JsonResponse, type App } from 'coda-http';
import { startServer } from '../helpers.js';
import { named, only, recorder, type Recorder } from './spans.js';

const instrumentation = new HttpInstrumentation();
// It patches node:http as it is required (require-in-the-middle); an ES module app loads its hook with --import.
createRequire(import.meta.url)('node:http');

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

async function instrumented(t: TestContext): Promise<{ spans: Recorder; app: App; url: string }> {
  const spans = recorder();
  instrumentation.setTracerProvider(spans.tracing.tracerProvider);
  const app = createApp({
    tracing: spans.tracing, accessLog: false,
    routes: [get('/users/:id', (request) => {
      after(() => {}, { name: 'audit' });
      return new JsonResponse({ id: request.params.id });
    })],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  return { spans, app, url: server.url };
}

/** The request's spans: one SERVER (instrumentation-http's), Coda's, the task's. */
function requestSpans(spans: Recorder): { server: ReadableSpan; coda: ReadableSpan; task: ReadableSpan } {
  const [server, ...others] = named(spans.exporter, 'GET /users/:id').sort((a, b) => a.kind === SpanKind.SERVER ? -1 : b.kind === SpanKind.SERVER ? 1 : 0);
  assert.equal(others.length, 1, `two spans named GET /users/:id, got: ${spans.exporter.getFinishedSpans().map((s) => `${s.name} (kind ${s.kind})`).join(', ')}`);
  return { server: server!, coda: others[0]!, task: only(spans.exporter, 'process audit') };
}

test('beside instrumentation-http, Coda\'s request span is an INTERNAL child of its SERVER span, which takes the route; the task spans stay children of and linked to Coda\'s', async (t) => {
  for (const headers of [{ traceparent: TRACEPARENT }, {}] as Record<string, string>[]) {
    const { spans, app, url } = await instrumented(t);
    const res = await fetch(`${url}/users/7`, { headers });
    assert.equal(res.status, 200);
    await res.text();
    await app.settle();
    const { server, coda, task } = requestSpans(spans);
    assert.equal(server.kind, SpanKind.SERVER);
    assert.equal(server.instrumentationScope.name, '@opentelemetry/instrumentation-http');
    assert.equal(server.attributes['http.route'], '/users/:id');
    if ('traceparent' in headers) assert.equal(server.spanContext().traceId, TRACE_ID);
    assert.equal(coda.kind, SpanKind.INTERNAL);
    assert.equal(coda.instrumentationScope.name, 'coda-http');
    assert.equal(coda.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(coda.spanContext().traceId, server.spanContext().traceId);
    assert.equal(coda.attributes['http.route'], '/users/:id');
    assert.equal(coda.attributes['http.response.status_code'], 200);
    assert.equal(task.parentSpanContext?.spanId, coda.spanContext().spanId);
    assert.deepEqual(task.links.map((link) => link.context.spanId), [coda.spanContext().spanId]);
  }
});

test('beside instrumentation-http, an unrouted request leaves its SERVER span without a route', async (t) => {
  const { spans, app, url } = await instrumented(t);
  assert.equal((await fetch(`${url}/nowhere`)).status, 404);
  await app.settle();
  const [server, coda] = [SpanKind.SERVER, SpanKind.INTERNAL].map((kind) => spans.exporter.getFinishedSpans().filter((span) => span.kind === kind));
  assert.equal(server!.length, 1);
  assert.equal(server![0]!.attributes['http.route'], undefined);
  assert.equal(server![0]!.attributes['http.response.status_code'], 404);
  assert.equal(coda!.length, 1);
  assert.equal(coda![0]!.name, 'GET');
  assert.equal(coda![0]!.parentSpanContext?.spanId, server![0]!.spanContext().spanId);
});
