import type { Registry } from 'prom-client';
import type { HttpRequest } from '../http/request.js';
import { HttpResponse } from '../http/response.js';
import type { View } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { checkKeys, checkMs } from '../util/options.js';
import { clusterScrape, servedIndex, type Scraped } from './cluster-scrape.js';
import type { MetricsRegistry } from './metrics.js';
import { openMetricsText, wantsOpenMetrics } from './open-metrics.js';
import { promClient } from './peer.js';

/** `metricsView()`'s options. */
export interface MetricsViewOptions {
  /** The prom-client `Registry` to serve. Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
  /**
   * Under `coda serve --workers`: how long the primary waits for each
   * worker's metrics before it answers without them (the scrape names who is
   * left out). Default 3,000 ms.
   */
  clusterTimeoutMs?: number;
}

/**
 * A view serving a registry's metrics: the app's own (`createApp({ metrics:
 * true })`), Node's default metrics, and whatever else the registry holds.
 * In Prometheus's text format, or in OpenMetrics when the scraper's Accept
 * prefers it (Prometheus's does), with `Vary: Accept`; a registry made for
 * OpenMetrics is always served as such. Route it where the scraper looks, and
 * keep it off the public internet (a middleware, a separate port).
 * prom-client is loaded when the view is made: a missing package fails at
 * start-up, not at the first scrape. Under `coda serve --workers`, a scrape
 * gets every worker's metrics, summed (see cluster-gather.ts).
 *
 * @example
 * ```ts
 * const app = createApp({ metrics: true, routes: [get('/metrics', metricsView())] });
 * // with a registry of your own: createApp({ metrics: { registry } }) and metricsView({ registry })
 * ```
 */
export function metricsView(options: MetricsViewOptions = {}): View {
  checkKeys('metricsView()', options, ['registry', 'clusterTimeoutMs']);
  const given = options.registry;
  if (given !== undefined && (given === null || typeof given.metrics !== 'function')) {
    throw new TypeError(`metricsView(): registry must be a prom-client Registry, got ${describe(given)}`);
  }
  const client = promClient('metricsView()');
  const registry = given ?? client.register;
  const timeoutMs = checkMs('metricsView(): clusterTimeoutMs', options.clusterTimeoutMs ?? 3_000);
  servedIndex(registry);
  // Only a registry of the text format is negotiated: prom-client cannot write the text format back from one made for OpenMetrics.
  const negotiates = registry.contentType !== client.Registry.OPENMETRICS_CONTENT_TYPE;
  // An empty scrape is said once in the log: the app whose metrics it should hold left `metrics: true` out, or
  // registered them in another registry, and Prometheus alone would only show no series.
  let told = false;
  const scraped = ({ text, contentType }: Scraped, request: HttpRequest): HttpResponse => {
    if (!told && EMPTY.test(text)) {
      told = true;
      request.log.warn(`metricsView() served no metrics: the registry it serves holds none (an app's own are registered by createApp({ metrics: true }), in the registry it is given, the same one metricsView({ registry }) must serve)`);
    }
    return new HttpResponse(text, { headers: { 'content-type': contentType, 'cache-control': 'no-store' } });
  };
  return async function metrics(request) {
    // Under coda serve --workers, the text format: the sum's comment lines (the workers summed, those left out) are not OpenMetrics.
    const cluster = clusterScrape(registry, timeoutMs);
    if (cluster !== undefined) return scraped(await cluster, request);
    if (!negotiates) return scraped({ text: await registry.metrics(), contentType: registry.contentType }, request);
    const open = wantsOpenMetrics(request.headers.get('accept'));
    const response = scraped(open ? await openMetricsText(client, registry as Registry) : { text: await registry.metrics(), contentType: registry.contentType }, request);
    response.headers.set('vary', 'Accept');
    return response;
  };
}

/**
 * A scrape with no series: prom-client's text of an empty registry, in either format, and under `coda serve
 * --workers` the sum's own comment lines (the workers summed, those left out) before it.
 */
const EMPTY = /^(# coda: .*\n)*\s*(# EOF\s*)?$/;
