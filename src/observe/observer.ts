import type { Logger } from 'pino';
import { TOKEN } from '../http/headers.js';
import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import { describe } from '../util/describe.js';
import { checkBoolean, checkFeature } from '../util/options.js';
import { logAccess } from './access-log.js';
import type { MetricsSource } from './metrics-source.js';
import { Metrics, type MetricsOptions } from './metrics.js';
import { logRefusal, type Refusal } from './refusal.js';
import { tracingFrom, type Tracing, type TracingOptions } from './tracing.js';

/** The app's observability options (see docs/observability.md). */
export interface ObserveOptions {
  /** OpenTelemetry spans for requests and tasks; needs `@opentelemetry/api`. Default off. */
  tracing?: boolean | TracingOptions | undefined;
  /** Prometheus metrics, served by `metricsView()`; needs `prom-client`. Default off. */
  metrics?: boolean | MetricsOptions | undefined;
  /** One `info` line per request on the app's logger. Default on. */
  accessLog?: boolean | undefined;
  /**
   * A response header that echoes the request id (`request.id`), e.g. `'x-request-id'`, and that the
   * incoming id is read from. Default false: none echoed, as in Fastify and Express (it costs a UUID and
   * a header on every response), the incoming id read from `X-Request-Id`.
   */
  requestIdHeader?: string | false | undefined;
}

/** What a request is observed through: its exchange, whose request (an adopted one's) is made when first read. */
export interface Observed {
  readonly request: HttpRequest;
}

/**
 * Hears every request's start (once admission control has decided) and end,
 * as metrics and tracing do: the dashboard's recorder. Called synchronously:
 * it must not throw.
 */
export interface RequestListener {
  started(request: HttpRequest): void;
  finished(request: HttpRequest, outcome: Outcome): void;
}

/**
 * What an app observes of its requests: their spans, metrics and access log
 * lines, the request id header, and its listeners (the dashboard). The app
 * uses it only when one of them is on (`active`), so an app with all of them
 * off pays one `undefined` check per request.
 */
export class Observer {
  readonly tracing: Tracing | undefined;
  readonly metrics: Metrics | undefined;
  /** Lower case; undefined when off. */
  readonly requestIdHeader: string | undefined;
  /** The logger of the access log; undefined when off. */
  readonly #accessLog: Logger | undefined;
  /** Made by the first `listen()`. */
  #listeners: RequestListener[] | undefined;
  /** Whether its requests are observed (spans, duration metrics): not an adapter's, whose framework observes them. */
  readonly #requests: boolean;
  /** Whether a request's end is observed but for listeners: spans or metrics of its own requests, or the access log. */
  readonly #observesEnds: boolean;
  /** The requests observed when shutdown gave up on them (see `givenUp`); made by the first. */
  #givenUp: WeakSet<HttpRequest> | undefined;

  /** `requests` false: tracing and metrics observe the app's tasks alone (an adapter's app, whose framework observes its requests). */
  constructor(options: ObserveOptions, logger: Logger, source: MetricsSource, where: string, requests = true) {
    const { tracing, metrics, accessLog = true, requestIdHeader = false } = options;
    checkFeature(`${where}: metrics`, metrics);
    checkBoolean(`${where}: accessLog`, accessLog);
    if (requestIdHeader !== false && (typeof requestIdHeader !== 'string' || !TOKEN.test(requestIdHeader))) {
      throw new TypeError(`${where}: requestIdHeader must be a header name or false, got ${describe(requestIdHeader)}`);
    }
    this.tracing = tracingFrom(tracing, where);
    this.metrics = metrics === undefined || metrics === false ? undefined : new Metrics(metrics, source, logger, where, requests);
    this.requestIdHeader = requestIdHeader === false ? undefined : requestIdHeader.toLowerCase();
    this.#accessLog = accessLog ? logger : undefined;
    this.#requests = requests;
    this.#observesEnds = (requests && (this.tracing !== undefined || this.metrics !== undefined)) || this.#accessLog !== undefined;
  }

  /** Whether anything is on: spans, metrics, access log, request id header or a listener. */
  get active(): boolean {
    return this.tracing !== undefined || this.metrics !== undefined || this.requestIdHeader !== undefined || this.#accessLog !== undefined || this.#listeners !== undefined;
  }

  /** The app is shut down: it lets go of what it shares with other apps (its metrics' gauges). */
  close(): void {
    this.metrics?.close();
  }

  /** The app is served again after its shutdown: its metrics' gauges count it again. */
  reopen(): void {
    this.metrics?.reopen();
  }

  /** `listener` hears every request from now on. */
  listen(listener: RequestListener): void {
    (this.#listeners ??= []).push(listener);
  }

  /** A request is admitted, or refused with 503: its listeners hear of it. */
  started(observed: Observed): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const { request } = observed;
    for (const listener of listeners) listener.started(request);
  }

  /** The server refused a request before the app saw it: it is logged and counted, as a request is. */
  refused(refusal: Refusal): void {
    this.metrics?.refused(refusal.status);
    if (this.#accessLog !== undefined) logRefusal(this.#accessLog, refusal);
  }

  /**
   * Shutdown gave up on a request its view was still handling: it is
   * observed now, as `outcome` says (cut off by the server), since it would
   * be only when that view returns, if ever: after the process has exited,
   * as like as not. What it ends later is not observed again.
   */
  givenUp(observed: Observed, outcome: Outcome): void {
    const request = this.#toObserve(observed);
    if (request === undefined) return;
    const givenUp = (this.#givenUp ??= new WeakSet());
    if (givenUp.has(request)) return;
    this.#finished(request, outcome);
    givenUp.add(request);
  }

  /** A response is done: its span ends, its duration is counted, its line is logged, its listeners hear of it. */
  finished(observed: Observed, outcome: Outcome): void {
    const request = this.#toObserve(observed);
    if (request !== undefined && this.#givenUp?.has(request) !== true) this.#finished(request, outcome);
  }

  /** The request, when anything observes its end: an adopted one (an adapter's app's) is made only then. */
  #toObserve(observed: Observed): HttpRequest | undefined {
    return this.#observesEnds || this.#listeners !== undefined ? observed.request : undefined;
  }

  #finished(request: HttpRequest, outcome: Outcome): void {
    const tracing = this.tracing;
    if (this.#requests) {
      tracing?.endRequest(request, outcome);
      this.metrics?.request(request, outcome);
    }
    if (this.#accessLog !== undefined) {
      // With the request's span active, as its other lines are: a mixin that reads it (instrumentation-pino's) correlates the line with the trace.
      if (tracing === undefined) logAccess(this.#accessLog, request, outcome);
      else tracing.withinRequest(request, logAccess, this.#accessLog, request, outcome);
    }
    const listeners = this.#listeners;
    if (listeners !== undefined) for (const listener of listeners) listener.finished(request, outcome);
  }
}
