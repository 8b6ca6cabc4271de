/**
 * The observability variant of Coda's bench server, chosen by
 * CODA_BENCH_OBSERVE (bench/observe.ts sets it; unset keeps Coda's defaults):
 * - `none`: everything off (no access log, no request id header);
 * - `off`: Coda's defaults (access log on a silent logger, request id header),
 *   with the OpenTelemetry SDK and prom-client loaded in the process, as an app
 *   that uses them for other things would, but Coda's tracing and metrics off;
 * - `on`: as `off`, with Coda's tracing (every span sampled, batched, dropped by
 *   the exporter) and metrics on;
 * - `tracing`, `metrics`: as `on`, with only one of them (to split its cost).
 */
import type { AppOptions } from '../../src/index.js';

export async function observeOptions(): Promise<AppOptions> {
  const mode = process.env.CODA_BENCH_OBSERVE;
  if (mode === undefined) return {};
  if (mode === 'none') return { accessLog: false, requestIdHeader: false };
  if (!['off', 'on', 'tracing', 'metrics'].includes(mode)) throw new Error(`CODA_BENCH_OBSERVE must be none, off, on, tracing or metrics, got ${mode}`);
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  await import('prom-client');
  const exporter = { export: (_spans: unknown[], done: (result: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return mode === 'off' ? {} : { tracing: mode !== 'metrics', metrics: mode !== 'tracing' };
}
