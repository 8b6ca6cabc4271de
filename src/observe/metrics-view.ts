import { HttpResponse } from '../http/response.js';
import type { View } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { checkKeys, checkMs } from '../util/options.js';
import { clusterScrape, servedIndex } from './cluster-scrape.js';
import { globalRegistry, type MetricsRegistry } from './metrics.js';

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
 * A view serving a registry's metrics in Prometheus's text format: the
 * app's own (`createApp({ metrics: true })`), Node's default metrics, and
 * whatever else the registry holds. Route it where the scraper looks, and
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
  const registry = given ?? globalRegistry('metricsView()');
  const timeoutMs = checkMs('metricsView(): clusterTimeoutMs', options.clusterTimeoutMs ?? 3_000);
  servedIndex(registry);
  return async function metrics() {
    const cluster = clusterScrape(registry, timeoutMs);
    const { text, contentType } = cluster === undefined ? { text: await registry.metrics(), contentType: registry.contentType } : await cluster;
    return new HttpResponse(text, { headers: { 'content-type': contentType, 'cache-control': 'no-store' } });
  };
}
