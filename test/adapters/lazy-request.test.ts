// An adopted request's HttpRequest is made only when something reads it (a
// task, a log): with tracing on too, the framework's span is adopted without
// it. Counted in the heap (v8.queryObjects, after a full collection), the
// framework's response held so that a request made would still be alive.
// A file of its own: the count is of every HttpRequest in the process.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { queryObjects } from 'node:v8';
import { context, trace } from '@opentelemetry/api';
import express from 'express';
import { after, HttpRequest } from 'coda-http';
import { coda } from 'coda-http/express';
import { recorder } from '../observe/spans.js';

function requestsAlive(): number {
  return queryObjects(HttpRequest, { format: 'count' }) as number;
}

test('express with tracing on: a request that registers no task makes no HttpRequest; one whose task reads it makes one, with the framework\'s span for its tasks', async (t) => {
  const spans = recorder();
  const tracer = spans.tracing.tracerProvider.getTracer('test');
  const middleware = coda({ tracing: spans.tracing });
  const app = express();
  // The framework's request span, active as Coda adopts the request (instrumentation-http's, in production).
  const frameworkSpans: string[] = [];
  app.use((_req, _res, next) => {
    const span = tracer.startSpan('framework request');
    frameworkSpans.push(span.spanContext().spanId);
    context.with(trace.setSpan(context.active(), span), next);
  });
  app.use(middleware);
  const held: ServerResponse[] = [];
  let inHandler: number | undefined;
  app.get('/plain', (_req, res) => {
    held.push(res);
    inHandler = requestsAlive();
    res.send('plain');
  });
  app.get('/tasked', (_req, res) => {
    held.push(res);
    after(() => {}, { name: 'audit' });
    res.send('tasked');
  });
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };

  const before = requestsAlive();
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/plain`)).text(), 'plain');
  await middleware.app.settle();
  assert.equal(held.length, 1);
  assert.deepEqual([inHandler, requestsAlive()], [before, before], 'none made while the framework answered, nor once the response was done');

  // The count sees one when one is made: the task's span reads its request.
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/tasked`)).text(), 'tasked');
  await middleware.app.settle();
  assert.equal(held.length, 2);
  assert.equal(requestsAlive(), before + 1);
  const audit = spans.exporter.getFinishedSpans().find((span) => span.name === 'process audit');
  assert.ok(audit !== undefined, 'the task was traced');
  assert.equal(audit.parentSpanContext?.spanId, frameworkSpans[1], 'under the framework\'s span, adopted before the request was made');
});
