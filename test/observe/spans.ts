// What the tracing tests share: the global context manager and W3C
// propagator an SDK registers, and a tracer provider per test whose spans
// land in the SDK's in-memory exporter.
import assert from 'node:assert/strict';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

export interface Recorder {
  exporter: InMemorySpanExporter;
  tracing: { tracerProvider: BasicTracerProvider };
  /** Resolves with the first span named `name` to end from now on. */
  ended(name: string): Promise<ReadableSpan>;
}

/** A tracer provider whose spans land in `exporter`, fresh per test; `sampler` as the SDK's (default: its ParentBased(AlwaysOn)). */
export function recorder(sampler?: Sampler): Recorder {
  const exporter = new InMemorySpanExporter();
  const waiting: [string, (span: ReadableSpan) => void][] = [];
  const notifier: SpanProcessor = {
    onStart() {},
    onEnd(span) {
      for (const [name, resolve] of waiting) if (span.name === name) resolve(span);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  return {
    exporter,
    tracing: { tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), notifier], ...(sampler === undefined ? {} : { sampler }) }) },
    ended: (name) => new Promise((resolve) => waiting.push([name, resolve])),
  };
}

export function named(exporter: InMemorySpanExporter, name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

export function only(exporter: InMemorySpanExporter, name: string): ReadableSpan {
  const found = named(exporter, name);
  assert.equal(found.length, 1, `one span named ${name}, got: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
  return found[0]!;
}
