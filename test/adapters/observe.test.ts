// The adapters' `metrics` and `tracing`: Coda observes the tasks of an
// Express, Fastify, Koa or Hono app (the same task metrics as its own app's,
// task spans under the framework's request span, a durable task's trace
// journaled), never its requests (the framework's own instrumentation does).
// A file of its own: instrumentation-http patches node:http for the whole process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { Hono } from 'hono';
import { Histogram, Registry } from 'prom-client';
import { after, createApp, sqliteStore, task } from 'coda-http';
import { coda as honoCoda } from 'coda-http/hono';
import { named, only, recorder } from '../observe/spans.js';
import { targets } from './targets.js';

const instrumentation = new HttpInstrumentation();
// It patches node:http as it is required (require-in-the-middle).
createRequire(import.meta.url)('node:http');

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

/** A metric's samples as `labels value` lines, sorted: what a dashboard's queries read. */
async function samples(registry: Registry, name: string): Promise<string[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric !== undefined, `${name} is registered`);
  return metric.values
    // A histogram's count stands for it (its buckets and sum vary with timing); a counter's or a gauge's value is itself.
    .filter((value) => (value as { metricName?: string }).metricName?.endsWith('_count') ?? true)
    .map((value) => `${JSON.stringify(value.labels)} ${value.value}`)
    .sort();
}

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-adapters-observe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}

for (const name of ['express', 'express4', 'fastify', 'koa', 'hono']) {
  test(`${name}: metrics and tracing observe the tasks alone: Coda's task metrics, task spans children of instrumentation-http's request span (a durable attempt's through the journaled trace); no request span or request metric of Coda's`, async (t) => {
    const spans = recorder();
    instrumentation.setTracerProvider(spans.tracing.tracerProvider);
    const registry = new Registry();
    const noted = task('noted', () => {});
    const running = await targets[name]!.start([{
      path: '/notes',
      handle() {
        after(() => {}, { name: 'audit' });
        void after(noted, {});
        return { body: 'saved' };
      },
    }], {
      metrics: { registry, defaultMetrics: false },
      tracing: spans.tracing,
      tasks: { definitions: [noted], store: sqliteStore({ path: tempFile(t) }) },
    });
    t.after(() => running.close(1_000));
    const res = await fetch(`${running.url}/notes`, { headers: { traceparent: TRACEPARENT } });
    assert.equal(await res.text(), 'saved');
    await running.app.settle();

    assert.deepEqual(await samples(registry, 'coda_tasks_total'), [
      '{"kind":"after","task":"audit","state":"completed"} 1',
      '{"kind":"durable","task":"noted","state":"completed"} 1',
    ]);
    assert.deepEqual(await samples(registry, 'coda_task_run_seconds'), ['{"kind":"after","task":"audit"} 1', '{"kind":"durable","task":"noted"} 1']);
    assert.deepEqual(await samples(registry, 'coda_tasks_pending'), ['{"kind":"after"} 0', '{"kind":"durable"} 0']);
    assert.equal(registry.getSingleMetric('http_request_duration_seconds'), undefined, 'the framework\'s requests are its own to count: the name is left to its plugin');

    const [server, ...others] = spans.exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER);
    assert.equal(others.length, 0, 'one SERVER span');
    assert.equal(server!.instrumentationScope.name, '@opentelemetry/instrumentation-http');
    assert.equal(server!.spanContext().traceId, TRACE_ID);
    const coda = spans.exporter.getFinishedSpans().filter((span) => span.instrumentationScope.name === 'coda-http');
    assert.deepEqual(coda.map((span) => span.name).sort(), ['process audit', 'process noted'], 'no request span of Coda\'s');
    for (const taskSpan of [only(spans.exporter, 'process audit'), only(spans.exporter, 'process noted')]) {
      assert.equal(taskSpan.kind, SpanKind.CONSUMER);
      assert.equal(taskSpan.spanContext().traceId, TRACE_ID);
      assert.equal(taskSpan.parentSpanContext?.spanId, server!.spanContext().spanId, `${taskSpan.name} is a child of the request's span`);
      assert.deepEqual(taskSpan.links.map((link) => link.context.spanId), [server!.spanContext().spanId]);
      assert.equal(taskSpan.attributes['coda.task.state'], 'completed');
    }
  });
}

test('hono without a Node response (app.request()): the span active around it is its tasks\' parent, and Coda never ends it', async () => {
  const spans = recorder();
  const tracer = spans.tracing.tracerProvider.getTracer('test');
  const tasks = honoCoda({ tracing: spans.tracing, metrics: { registry: new Registry(), defaultMetrics: false } });
  const app = new Hono();
  app.use(tasks);
  app.get('/', (c) => {
    after(() => {}, { name: 'audit' });
    return c.text('hi');
  });
  const outer = tracer.startSpan('outer');
  const res = await context.with(trace.setSpan(context.active(), outer), () => app.request('/'));
  assert.equal(await res.text(), 'hi');
  await tasks.app.settle();
  assert.equal(named(spans.exporter, 'outer').length, 0, 'the span is its host\'s to end');
  outer.end();
  const audit = only(spans.exporter, 'process audit');
  assert.equal(audit.parentSpanContext?.spanId, outer.spanContext().spanId);
  assert.deepEqual(audit.links.map((link) => link.context.spanId), [outer.spanContext().spanId]);
});

test('an adapter\'s metrics share a registry with the framework\'s own plugin (express-prom-bundle, fastify-metrics: their http_request_duration_seconds): Coda registers no request metric there; a Coda app on it is still refused, naming the metric', async () => {
  const registry = new Registry();
  const theirs = new Histogram({ name: 'http_request_duration_seconds', help: 'the framework plugin\'s', labelNames: ['method'], registers: [registry] });
  const tasks = honoCoda({ metrics: { registry, defaultMetrics: false } });
  const app = new Hono();
  app.use(tasks);
  app.get('/', (c) => {
    after(() => {}, { name: 'audit' });
    return c.text('hi');
  });
  assert.equal(await (await app.request('/')).text(), 'hi');
  await tasks.app.settle();
  assert.deepEqual(await samples(registry, 'coda_tasks_total'), ['{"kind":"after","task":"audit","state":"completed"} 1']);
  assert.equal(registry.getSingleMetric('http_request_duration_seconds'), theirs);
  // A Coda app counts its requests under that name: the registry is not its to share.
  assert.throws(() => createApp({ metrics: { registry, defaultMetrics: false } }), /createApp\(\): metrics: the registry already has a metric named http_request_duration_seconds that is not Coda's/);
  // A registry of Coda's only: the app made after the adapter's registers its histogram beside the task metrics.
  const own = new Registry();
  honoCoda({ metrics: { registry: own, defaultMetrics: false } });
  createApp({ metrics: { registry: own, defaultMetrics: false } });
  assert.notEqual(own.getSingleMetric('http_request_duration_seconds'), undefined);
});

test('accessLog and requestIdHeader are still refused: the framework logs its requests and sets its headers', () => {
  for (const key of ['accessLog', 'requestIdHeader']) {
    assert.throws(() => honoCoda({ [key]: true } as never), new RegExp(`coda-http/hono coda\\(\\): unknown option "${key}"; the options are after, tasks, logger, debug, metrics, tracing$`));
  }
  assert.throws(() => honoCoda({ metrics: 'yes' } as never), /^TypeError: coda-http\/hono coda\(\): metrics must be/);
});
