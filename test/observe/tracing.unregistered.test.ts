// Tracing in a process where OpenTelemetry's context manager and propagator
// are not registered (a BasicTracerProvider passed as tracerProvider, no
// NodeSDK): spans are recorded, in traces cut apart, so serving says so. Its
// own file: the globals can be registered once per process, and spans.ts
// registers them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createApp, get, HttpResponse, runWorker, sqliteStore, task } from 'coda-http';
import { LEVEL, memoryLogger, startServer, type LogLine } from '../helpers.js';

const tracing = { tracerProvider: new BasicTracerProvider() };
const noop = task('noop', async () => {});

const warnings = (lines: LogLine[]): LogLine[] => lines.filter((line) => line.level === LEVEL.warn && /^tracing is on/.test(line.msg ?? ''));

test('tracing served without a registered context manager and propagator warns once, naming both and how to register them; registered, it does not', async (t) => {
  const { logger, lines } = memoryLogger();
  const app = createApp({ tracing, logger, routes: [get('/', () => new HttpResponse('ok'))] });
  const first = await startServer(app, { host: '127.0.0.1' });
  const second = await startServer(app, { host: '127.0.0.1' });
  await first.close();
  await second.close();
  const [warning, ...more] = warnings(lines);
  assert.equal(more.length, 0, 'said once per app');
  assert.match(warning!.msg!, /no context manager .* and no propagator \(an incoming traceparent is ignored, and durable tasks' attempts start traces of their own\)/);
  assert.match(warning!.msg!, /NodeSDK\.start\(\).*propagation\.setGlobalPropagator\(new W3CTraceContextPropagator\(\)\)/);

  const dir = mkdtempSync(path.join(tmpdir(), 'coda-unregistered-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const worker = memoryLogger();
  const running = await runWorker({ definitions: [noop], store: sqliteStore({ path: path.join(dir, 'tasks.db') }), tracing, logger: worker.logger, handleSignals: false });
  await running.close();
  assert.equal(warnings(worker.lines).length, 1, 'a worker says it too');

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const registered = memoryLogger();
  const ready = createApp({ tracing, logger: registered.logger, routes: [get('/', () => new HttpResponse('ok'))] });
  await (await startServer(ready, { host: '127.0.0.1' })).close();
  assert.equal(registered.lines.filter((line) => line.level === LEVEL.info && /shutdown complete/.test(line.msg ?? '')).length, 1, 'the log was written to');
  assert.deepEqual(warnings(registered.lines), []);
});
