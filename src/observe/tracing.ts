import type { Attributes, Context, Link, Span, SpanContext, Tracer } from '@opentelemetry/api';
import type { TaskSpan, TaskTracer } from '../after/task-spans.js';
import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/response.js';
import { checkFeature } from '../util/options.js';
import { loadPeer } from './peer.js';

type Api = typeof import('@opentelemetry/api');

/** `tracing` in `createApp()` and `runWorker()`: `true`, or where the spans go. */
export interface TracingOptions {
  /**
   * The OpenTelemetry `TracerProvider` to take Coda's tracer from. Default:
   * the global one, which the OpenTelemetry SDK registers (`NodeSDK.start()`,
   * `provider.register()`).
   */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
}

/** What a durable task's attempt span needs of the stored task (`StoredTask` has it). */
export interface AttemptSubject {
  id: string;
  name: string;
  attempt: number;
  trace: Record<string, string> | null;
  request: { id: string } | null;
}

/** The methods HTTP semantic conventions name; any other is `_OTHER` (bounded span names). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);
const TRACER_NAME = 'coda-http';
/** `[v6::1]:8080`, `example.com:8080`, `example.com`. */
const HOST = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/;

/**
 * OpenTelemetry tracing, through `@opentelemetry/api` (loaded when tracing
 * is turned on). A SERVER span per request, child of the incoming W3C
 * `traceparent` and active while middleware and view run, named
 * `{method} {route}` once routing has matched; a CONSUMER span
 * `process {task}` per after-response task and per durable attempt, child of
 * and linked to the request's span. Attributes follow the stable HTTP and the
 * messaging semantic conventions.
 */
/** The tracing a `tracing` option (true, false or options) asks for at `where`; undefined when off. */
export function tracingFrom(tracing: boolean | TracingOptions | undefined, where: string): Tracing | undefined {
  checkFeature(`${where}: tracing`, tracing);
  return tracing === undefined || tracing === false ? undefined : new Tracing(tracing, where);
}

export class Tracing implements TaskTracer {
  readonly #api: Api;
  readonly #tracer: Tracer;
  readonly #spans = new WeakMap<HttpRequest, Span>();

  constructor(options: true | TracingOptions, where: string) {
    this.#api = loadPeer<Api>('@opentelemetry/api', `${where}: tracing`);
    const provider = options === true || options.tracerProvider === undefined ? this.#api.trace.getTracerProvider() : options.tracerProvider;
    this.#tracer = provider.getTracer(TRACER_NAME) as Tracer;
  }

  /** Starts `request`'s server span and calls `fn(arg)` with it active (middleware and view see it, and what they start is its child). */
  runRequest<A, R>(request: HttpRequest, fn: (arg: A) => R, arg: A): R {
    const { context, propagation, trace, SpanKind } = this.#api;
    const parent = propagation.extract(context.active(), request.headers.raw);
    const known = KNOWN_METHODS.has(request.method);
    const span = this.#tracer.startSpan(known ? request.method : 'HTTP', { kind: SpanKind.SERVER, attributes: requestAttributes(request, known) }, parent);
    this.#spans.set(request, span);
    return context.with(trace.setSpan(parent, span), fn, undefined, arg);
  }

  /** The response is done: the route, the status and any error go on the span, which ends. */
  endRequest(request: HttpRequest, outcome: Outcome): void {
    const span = this.#spans.get(request);
    if (span === undefined) return;
    const { route } = request;
    if (route !== undefined) {
      span.updateName(`${KNOWN_METHODS.has(request.method) ? request.method : 'HTTP'} ${route}`);
      span.setAttribute('http.route', route);
    }
    span.setAttribute('http.response.status_code', outcome.status);
    // Server spans: a 5xx is an error, a 4xx is the client's (HTTP semantic conventions).
    let errorType: string | undefined;
    if (outcome.error !== undefined) errorType = errorName(outcome.error);
    else if (outcome.aborted) errorType = 'aborted';
    else if (outcome.status >= 500) errorType = String(outcome.status);
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR });
    }
    span.end();
  }

  startTask(name: string, request: HttpRequest): TaskSpan {
    const parent = this.#spans.get(request)?.spanContext();
    return this.#startProcess(name, parent, { 'coda.request.id': request.id });
  }

  /** The trace context to journal with a durable task registered now: the request's span (or, outside a request, the active one). */
  inject(request: HttpRequest | null): Record<string, string> | null {
    const { context, propagation, trace } = this.#api;
    const span = request === null ? undefined : this.#spans.get(request);
    const active = context.active();
    const carrier: Record<string, string> = {};
    propagation.inject(span === undefined ? active : trace.setSpan(active, span), carrier);
    return Object.keys(carrier).length === 0 ? null : carrier;
  }

  /** An attempt's span continues the trace journaled with its task, in whichever process runs it. */
  startAttempt(task: AttemptSubject): TaskSpan {
    const { propagation, trace, ROOT_CONTEXT } = this.#api;
    const parent = task.trace === null ? undefined : trace.getSpanContext(propagation.extract(ROOT_CONTEXT, task.trace));
    const attributes: Attributes = { 'messaging.message.id': task.id, 'coda.task.attempt': task.attempt };
    if (task.request !== null) attributes['coda.request.id'] = task.request.id;
    return this.#startProcess(task.name, parent, attributes);
  }

  /** A messaging "process" span: kind CONSUMER, child of `parent` and linked to it. */
  #startProcess(name: string, parent: SpanContext | undefined, attributes: Attributes): TaskSpan {
    const { trace, SpanKind, ROOT_CONTEXT } = this.#api;
    const links: Link[] = parent === undefined ? [] : [{ context: parent }];
    const span = this.#tracer.startSpan(`process ${name}`, {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        'messaging.system': 'coda',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': name,
        ...attributes,
      },
    }, parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent));
    return new ProcessSpan(this.#api, span);
  }
}

/** A task's span: active while the task runs, ended with how it ended. */
class ProcessSpan implements TaskSpan {
  readonly #api: Api;
  readonly #span: Span;

  constructor(api: Api, span: Span) {
    this.#api = api;
    this.#span = span;
  }

  run<A, R>(fn: (arg: A) => R, arg: A): R {
    const { context, trace } = this.#api;
    // The active context is the task's registration's (baggage kept); the span goes on top.
    const active: Context = context.active();
    return context.with(trace.setSpan(active, this.#span), fn, undefined, arg);
  }

  end(state: Parameters<TaskSpan['end']>[0], error?: unknown): void {
    const span = this.#span;
    span.setAttribute('coda.task.state', state);
    if (state !== 'completed') {
      span.setAttribute('error.type', error === undefined ? state : errorName(error));
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR, ...(error instanceof Error ? { message: error.message } : {}) });
      if (error instanceof Error) span.recordException(error);
    }
    span.end();
  }
}

function requestAttributes(request: HttpRequest, known: boolean): Attributes {
  const raw = request.raw;
  const scheme = raw !== undefined && (raw.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  const attributes: Attributes = {
    'http.request.method': known ? request.method : '_OTHER',
    'url.path': request.path,
    'url.scheme': scheme,
    'network.protocol.version': raw === undefined ? '1.1' : raw.httpVersion === '2.0' ? '2' : raw.httpVersion,
  };
  if (!known) attributes['http.request.method_original'] = request.method;
  const host = HOST.exec(request.headers.get('host') ?? '');
  if (host !== null && host[1] !== '') {
    attributes['server.address'] = host[1]!;
    attributes['server.port'] = host[2] === undefined ? (scheme === 'https' ? 443 : 80) : Number(host[2]);
  }
  const agent = request.headers.get('user-agent');
  if (agent !== null) attributes['user_agent.original'] = agent;
  const client = raw?.socket.remoteAddress;
  if (client !== undefined) attributes['client.address'] = client;
  return attributes;
}

/** `error.type` of an error: its class's name (`TaskTimeoutError`), else `_OTHER`. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '_OTHER';
}
