// OpenTelemetry for the worker, imported before anything else. A real deployment registers
// NodeSDK with an OTLP exporter instead; this one prints each ended span as a JSON line.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Writes `{ span, traceId, attributes }` per span to stdout. */
const jsonLines: SpanExporter = {
  export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
    for (const span of spans) console.log(JSON.stringify({ span: span.name, traceId: span.spanContext().traceId, attributes: span.attributes }));
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: async () => {},
};

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(jsonLines)] }));
