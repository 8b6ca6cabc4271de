import type { Logger } from 'pino';
import { TOKEN } from '../http/headers.js';
import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/response.js';
import { describe } from '../util/describe.js';
import { checkBoolean, checkFeature } from '../util/options.js';
import { logAccess } from './access-log.js';
import { Metrics, type MetricsOptions, type MetricsSource } from './metrics.js';
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
   * A response header that echoes the request id (`request.id`), e.g. `'x-request-id'`. Default false:
   * none, as in Fastify and Express; it costs a UUID and a header on every response.
   */
  requestIdHeader?: string | false | undefined;
}


/**
 * What an app observes of its requests: their spans, metrics and access log
 * lines, and the request id header. Made only when one of them is on, so an
 * app with all of them off pays one `undefined` check per request.
 */
export class Observer {
  readonly tracing: Tracing | undefined;
  readonly metrics: Metrics | undefined;
  /** Lower case; undefined when off. */
  readonly requestIdHeader: string | undefined;
  /** The logger of the access log; undefined when off. */
  readonly #accessLog: Logger | undefined;

  private constructor(options: ObserveOptions, logger: Logger, source: MetricsSource, where: string) {
    const { tracing, metrics, accessLog = true, requestIdHeader = false } = options;
    checkFeature(`${where}: metrics`, metrics);
    checkBoolean(`${where}: accessLog`, accessLog);
    if (requestIdHeader !== false && (typeof requestIdHeader !== 'string' || !TOKEN.test(requestIdHeader))) {
      throw new TypeError(`${where}: requestIdHeader must be a header name or false, got ${describe(requestIdHeader)}`);
    }
    this.tracing = tracingFrom(tracing, where);
    this.metrics = metrics === undefined || metrics === false ? undefined : new Metrics(metrics, source, where);
    this.requestIdHeader = requestIdHeader === false ? undefined : requestIdHeader.toLowerCase();
    this.#accessLog = accessLog ? logger : undefined;
  }

  /** The observer for these options, or undefined when everything is off. */
  static create(options: ObserveOptions, logger: Logger, source: MetricsSource, where: string): Observer | undefined {
    const observer = new Observer(options, logger, source, where);
    const off = observer.tracing === undefined && observer.metrics === undefined && observer.requestIdHeader === undefined && observer.#accessLog === undefined;
    return off ? undefined : observer;
  }

  /** A response is done: its span ends, its duration is counted, its line is logged. */
  finished(request: HttpRequest, outcome: Outcome): void {
    this.tracing?.endRequest(request, outcome);
    this.metrics?.request(request, outcome);
    if (this.#accessLog !== undefined) logAccess(this.#accessLog, request, outcome);
  }
}
