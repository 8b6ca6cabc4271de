import type { Attributes, Context, Span, SpanContext, SpanOptions, Tracer } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import type { TaskSpan, TaskTracer } from '../after/task-spans.js';
import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import { kRenderedError, kSpan } from '../symbols.js';
import { checkFeature } from '../util/options.js';
import { knownMethod } from './methods.js';
import { loadPeer } from './peer.js';
import { isPromise } from '../util/is-promise.js';
import type { AdoptedSpan } from './adopted-span.js';

type Api = typeof import('@opentelemetry/api');

/** `tracing` in `createApp()` and `runWorker()`: `true`, or where the spans go. */
export interface TracingOptions {
  /**
   * The OpenTelemetry `TracerProvider` to take Coda's tracer from. Default:
   * the global one, which the OpenTelemetry SDK registers (`NodeSDK.start()`,
   * `NodeTracerProvider`'s `register()`).
   */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
}

/** `request`, adopted, is made: `span` (from `Tracing.adopted()`) is its span for its tasks. */
export function giveAdoptedSpan(request: HttpRequest, span: AdoptedSpan): void {
  request[kSpan] = span as unknown as Span;
}

/** What a durable task's attempt span needs of the stored task (`StoredTask` has it). */
export interface AttemptSubject {
  id: string;
  name: string;
  attempt: number;
  trace: Record<string, string> | null;
  request: { id: string } | null;
}

const TRACER_NAME = 'coda-http';
/** `[::1]:8080`, `example.com:8080`, `example.com` (`request.host`, an empty port dropped). */
const HOST = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d+))?$/;

/** The host a request asked for (`request.host`) as span attributes. */
interface ParsedHost {
  header: string;
  scheme: string;
  address: string | undefined;
  port: number;
}

/** The tracing a `tracing` option (true, false or options) asks for at `where`; undefined when off. */
export function tracingFrom(tracing: boolean | TracingOptions | undefined, where: string): Tracing | undefined {
  checkFeature(`${where}: tracing`, tracing);
  return tracing === undefined || tracing === false ? undefined : new Tracing(tracing, where);
}

/**
 * OpenTelemetry tracing, through `@opentelemetry/api` (loaded when tracing
 * is turned on). A SERVER span per request, child of the incoming W3C
 * `traceparent` (an INTERNAL child of the server span an instrumentation made
 * already) and active while middleware and view run, named
 * `{method} {route}` once routing has matched; a CONSUMER span
 * `process {task}` per after-response task and per durable attempt, child of
 * and linked to the request's span. Attributes follow the stable HTTP and the
 * messaging semantic conventions.
 */
export class Tracing implements TaskTracer {
  readonly #api: Api;
  readonly #tracer: Tracer;
  /** `@opentelemetry/core`'s RPC metadata key (see `#httpMetadataOf`). */
  readonly #rpcMetadata: symbol;
  /** The spans active where the app was served (see `served`): no request's parent. */
  readonly #startup = new WeakSet<Span>();
  /** The last host seen and its attributes. */
  #host: ParsedHost | undefined;
  /** Whether `unregistered()` has answered already: it is told once. */
  #checkedGlobals = false;

  constructor(options: true | TracingOptions, where: string) {
    this.#api = loadPeer<Api>('@opentelemetry/api', `${where}: tracing`);
    const provider = options === true || options.tracerProvider === undefined ? this.#api.trace.getTracerProvider() : options.tracerProvider;
    this.#tracer = provider.getTracer(TRACER_NAME) as Tracer;
    // `createContextKey()` gives the same key for the same description, so it is found without loading `@opentelemetry/core`.
    this.#rpcMetadata = this.#api.createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');
  }

  /**
   * @internal `serve()` (or `attach()`) is putting a server of the app to
   * work here: the span active now, which Node's async context carries into
   * every connection of the server, is a start-up span, not what received
   * a request. Ended or open, sampled or not, it is no request's parent.
   */
  served(): void {
    const span = this.#api.trace.getActiveSpan();
    if (span !== undefined) this.#startup.add(span);
  }

  /**
   * What the process has not registered of what tracing needs beyond a
   * tracer, said once (undefined when nothing is missing, or when said
   * already). A provider passed as `tracerProvider` registers neither: the
   * SDK's `BasicTracerProvider` has no `register()`, and spans are still
   * recorded, only in traces cut apart, which nothing else would say.
   */
  unregistered(): string | undefined {
    if (this.#checkedGlobals) return undefined;
    this.#checkedGlobals = true;
    const { context, propagation, createContextKey, ROOT_CONTEXT } = this.#api;
    const probe = createContextKey('coda-http context manager probe');
    const missing: string[] = [];
    if (context.with(ROOT_CONTEXT.setValue(probe, true), () => context.active().getValue(probe) !== true)) {
      missing.push('no context manager (no span is active in middleware, views and tasks: the spans they start are not the request\'s children)');
    }
    if (propagation.fields().length === 0) {
      missing.push('no propagator (an incoming traceparent is ignored, and durable tasks\' attempts start traces of their own)');
    }
    if (missing.length === 0) return undefined;
    return `tracing is on, but OpenTelemetry has ${missing.join(' and ')}: start the SDK (NodeSDK.start()) before serving, or register them yourself: context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()) and propagation.setGlobalPropagator(new W3CTraceContextPropagator()) (docs/observability.md, "Traces")`;
  }

  /**
   * Starts `request`'s span and calls `fn(arg)` with it active (middleware
   * and view see it, and what they start is its child). A SERVER span, unless
   * whatever received the request made one already (see `parentOf`): then
   * an INTERNAL child of it, as OpenTelemetry's framework instrumentations
   * (Express, Koa, Hapi) do, and the route goes to instrumentation-http's
   * span the way theirs does.
   */
  runRequest<A, R>(request: HttpRequest, fn: (arg: A) => R | Promise<R>, arg: A): R | Promise<R> {
    const { context, trace, SpanKind } = this.#api;
    const active = context.active();
    const { parent, nested } = parentOf(this.#api, active, request.headers.raw, this.#startup);
    const method = knownMethod(request.method);
    const kind = nested ? SpanKind.INTERNAL : SpanKind.SERVER;
    // Every attribute known at the start goes in the options: one copy by the SDK, no setAttribute per attribute.
    const span = this.#tracer.startSpan(spanMethod(method), { kind, attributes: this.#requestAttributes(request, method) }, parent);
    // A span that records nothing and carries no trace (a no-op tracer, nothing incoming) would change nothing for the code inside: no context to enter.
    if (parent === active && !span.isRecording() && !trace.isSpanContextValid(span.spanContext())) return fn(arg);
    request[kSpan] = span;
    const result = context.with(trace.setSpan(parent, span), fn, undefined, arg);
    const metadata = nested ? this.#httpMetadataOf(active) : undefined;
    if (metadata === undefined) return result;
    // Known once the response is: routing has run. instrumentation-http reads it when the response closes, which is later.
    const route = (response: R): R => {
      if (request.route !== undefined) metadata.route = request.route;
      return response;
    };
    return isPromise(result) ? Promise.resolve(result).then(route) : route(result);
  }

  /**
   * Coda takes a request another framework (an adapter's) answers: Coda
   * makes no span of its own for it. The span active now, the framework's
   * request span (instrumentation-http's, or one its host made), is to be
   * its span for its tasks, as Coda's own is for a request of Coda's: their
   * parent and link, and the trace its durable tasks journal. Returned for
   * `giveAdoptedSpan` to give the request once it is made (an adopted
   * request is made only when read). Not a start-up span (see `isStartup`);
   * never ended by Coda.
   */
  adopted(): AdoptedSpan | undefined {
    const span = this.#api.trace.getActiveSpan();
    return span === undefined || isStartup(this.#api, span, this.#startup) ? undefined : span as unknown as AdoptedSpan;
  }

  /** The response is done: the route, the status and any error go on the span, which ends. */
  endRequest(request: HttpRequest, outcome: Outcome): void {
    const span = request[kSpan] as Span | undefined;
    if (span === undefined) return;
    // A span sampled out ignores what is set on it: nothing to build.
    if (span.isRecording()) {
      const { route } = request;
      if (route !== undefined) {
        span.updateName(`${spanMethod(knownMethod(request.method))} ${route}`);
        span.setAttribute('http.route', route);
      }
      // None when the client left before the head went out: no status was sent (HTTP semantic conventions: set "if and only if one was sent").
      if (outcome.headersSent !== false) span.setAttribute('http.response.status_code', outcome.status);
      // Server spans: a 5xx is an error, a 4xx is the client's (HTTP semantic conventions).
      let errorType: string | undefined;
      if (outcome.error !== undefined) errorType = errorName(outcome.error);
      else if (outcome.aborted) errorType = 'aborted';
      else if (outcome.status >= 500) errorType = String(outcome.status);
      if (errorType !== undefined) {
        span.setAttribute('error.type', errorType);
        // What was thrown, as framework instrumentations (Express's) record it: the trace says which failure the 5xx was.
        const thrown = outcome.error ?? (outcome.status >= 500 ? request[kRenderedError] : undefined);
        if (thrown instanceof Error) span.recordException(thrown);
        span.setStatus({ code: this.#api.SpanStatusCode.ERROR, ...(thrown instanceof Error ? { message: thrown.message } : {}) });
      }
    }
    span.end();
  }

  /** Calls `fn(...args)` with `request`'s span active (ended or not), or as is when it has none. */
  withinRequest<A extends unknown[]>(request: HttpRequest, fn: (...args: A) => void, ...args: A): void {
    const span = request[kSpan] as Span | undefined;
    if (span === undefined) return fn(...args);
    const { context, trace, ROOT_CONTEXT } = this.#api;
    context.with(trace.setSpan(ROOT_CONTEXT, span), fn, undefined, ...args);
  }

  startTask(name: string, request: HttpRequest): TaskSpan {
    const span = request[kSpan] as Span | undefined;
    const attributes = processAttributes(name);
    attributes['coda.request.id'] = request.id;
    const { trace, ROOT_CONTEXT } = this.#api;
    return this.#startProcess(name, span?.spanContext(), span === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, span), attributes);
  }

  /** The trace context to journal with a durable task registered now: the request's span (or, outside a request, the active one). */
  inject(request: HttpRequest | null): Record<string, string> | null {
    const { context, propagation, trace } = this.#api;
    const span = request?.[kSpan] as Span | undefined;
    const active = context.active();
    const carrier: Record<string, string> = {};
    propagation.inject(span === undefined ? active : trace.setSpan(active, span), carrier);
    return Object.keys(carrier).length === 0 ? null : carrier;
  }

  /** An attempt's span continues the trace journaled with its task, in whichever process runs it. */
  startAttempt(task: AttemptSubject): TaskSpan {
    const { propagation, trace, ROOT_CONTEXT } = this.#api;
    const parent = task.trace === null ? undefined : trace.getSpanContext(propagation.extract(ROOT_CONTEXT, task.trace));
    const attributes = processAttributes(task.name);
    attributes['messaging.message.id'] = task.id;
    attributes['coda.task.attempt'] = task.attempt;
    if (task.request !== null) attributes['coda.request.id'] = task.request.id;
    return this.#startProcess(task.name, parent, parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent), attributes);
  }

  /** A messaging "process" span: kind CONSUMER, child of `parent` (in `context`) and linked to it. */
  #startProcess(name: string, parent: SpanContext | undefined, context: Context, attributes: Attributes): TaskSpan {
    const options: SpanOptions = { kind: this.#api.SpanKind.CONSUMER, attributes };
    if (parent !== undefined) options.links = [{ context: parent }];
    return new ProcessSpan(this.#api, this.#tracer.startSpan(`process ${name}`, options, context));
  }

  /**
   * The request's attributes known at its start (the stable HTTP semantic
   * conventions). Scheme, host and client are the request's own
   * (`request.protocol`, `host`, `ip`): what a trusted proxy forwarded, and
   * for `app.fetch` the Web Request's URL.
   */
  #requestAttributes(request: HttpRequest, method: string): Attributes {
    const raw = request.raw;
    const scheme = request.protocol;
    const attributes: Attributes = {
      'http.request.method': method,
      'url.path': request.path,
      'url.scheme': scheme,
    };
    // None without a socket (app.fetch, the in-process test client): a Web Request does not say which version carried it (h2, h3 on a host).
    if (raw !== undefined) attributes['network.protocol.version'] = raw.httpVersion === '2.0' ? '2' : raw.httpVersion;
    if (method !== request.method) attributes['http.request.method_original'] = request.method;
    const host = this.#parseHost(request.host ?? '', scheme);
    if (host.address !== undefined) {
      attributes['server.address'] = host.address;
      attributes['server.port'] = host.port;
    }
    const agent = request.headers.get('user-agent');
    if (agent !== null) attributes['user_agent.original'] = agent;
    const client = request.ip;
    if (client !== undefined) attributes['client.address'] = client;
    return attributes;
  }

  /**
   * `@opentelemetry/core`'s RPC metadata (`getRPCMetadata()`), which
   * instrumentation-http puts in the context of each request it receives and
   * reads `route` from (its span's `http.route` and name).
   */
  #httpMetadataOf(active: Context): { route?: string } | undefined {
    const metadata = active.getValue(this.#rpcMetadata) as { type?: unknown; route?: string } | undefined;
    return metadata?.type === 'http' ? metadata : undefined;
  }

  /** `server.address` and `server.port` of a request's host (the port defaults to the scheme's); the last one is kept: a server answers to few names. */
  #parseHost(header: string, scheme: string): ParsedHost {
    const last = this.#host;
    if (last !== undefined && last.header === header && last.scheme === scheme) return last;
    const match = HOST.exec(header);
    // An IPv6 address without its brackets, as the conventions write server.address (`::1`, not `[::1]`).
    const address = (match?.[1] ?? match?.[2]) || undefined;
    const port = match?.[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(match[3]);
    return (this.#host = { header, scheme, address, port });
  }
}

/**
 * The parent of a request's span, and whether it is the request's server
 * span already: the span active when the request reaches Coda, made by what
 * received it (instrumentation-http, a runtime's instrumentation calling
 * `app.fetch`), which has continued the request's `traceparent`. Not a
 * start-up span (see `isStartup`), which Node's async context carries into
 * every connection: it is left out of the request's context; nor one of
 * another trace than the one the request's `traceparent` names: the
 * `traceparent` wins. Nor a remote span context made active (a host that
 * carries trace context in its own envelope): another process's span, the
 * parent of Coda's server span. The request's trace is then Coda's to
 * continue, with a SERVER span.
 */
function parentOf(api: Api, active: Context, headers: IncomingHttpHeaders, startup: WeakSet<Span>): { parent: Context; nested: boolean } {
  const { trace, propagation } = api;
  const span = trace.getSpan(active);
  const own = span !== undefined && isStartup(api, span, startup) ? trace.deleteSpan(active) : active;
  const extracted = propagation.extract(own, headers);
  const outer = own === active ? span?.spanContext() : undefined;
  if (outer === undefined || !trace.isSpanContextValid(outer) || outer.isRemote === true) return { parent: extracted, nested: false };
  if (extracted !== active && trace.getSpanContext(extracted)?.traceId !== outer.traceId) return { parent: extracted, nested: false };
  return { parent: active, nested: true };
}

/**
 * Whether `span` is a start-up span: one active where the app was served
 * (`Tracing.served`), or, on a server `serve()` did not start
 * (`http.createServer(app.handler)`), one that has ended (local, sampled,
 * recording no more).
 */
function isStartup(api: Api, span: Span, startup: WeakSet<Span>): boolean {
  if (startup.has(span)) return true;
  const { isRemote, traceFlags } = span.spanContext();
  return isRemote !== true && !span.isRecording() && (traceFlags & api.TraceFlags.SAMPLED) !== 0;
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

/** The messaging attributes of a task's "process" span, every task's and attempt's alike. */
function processAttributes(task: string): Attributes {
  return { 'messaging.system': 'coda', 'messaging.operation.type': 'process', 'messaging.operation.name': 'process', 'messaging.destination.name': task };
}

/** A span name's method: `HTTP` for one the conventions do not know. */
function spanMethod(method: string): string {
  return method === '_OTHER' ? 'HTTP' : method;
}

/** `error.type` of an error: its class's name (`TaskTimeoutError`), else `_OTHER`. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '_OTHER';
}
