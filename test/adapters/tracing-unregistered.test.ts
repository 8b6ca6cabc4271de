// An adapter's tracing in a process where OpenTelemetry's context manager and
// propagator are not registered: no span is active where Coda takes the
// framework's request, so its tasks have no parent, and a durable task
// journals no trace. The adapter's app is never served: its first request
// says so, as serving Coda's own app does. A file of its own: the globals
// stay unregistered here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Hono } from 'hono';
import { coda } from 'coda-http/hono';
import { LEVEL, memoryLogger } from '../helpers.js';

test('an adapter with tracing on and no context manager or propagator registered warns once, at its first request, naming both', async () => {
  const { logger, lines } = memoryLogger();
  const app = new Hono();
  app.use(coda({ tracing: { tracerProvider: new BasicTracerProvider() }, logger }));
  app.get('/', (c) => c.text('hi'));
  for (let i = 0; i < 3; i++) assert.equal(await (await app.request('/')).text(), 'hi');
  const warnings = lines.filter((line) => line.level === LEVEL.warn && /^tracing is on/.test(line.msg ?? ''));
  assert.equal(warnings.length, 1, 'said once');
  assert.match(warnings[0]!.msg!, /no context manager .* and no propagator /);
});
