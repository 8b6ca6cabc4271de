import { HttpResponse } from '../http/response.js';
import type { View } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { checkKeys } from '../util/options.js';
import { globalRegistry, type MetricsRegistry } from './metrics.js';

/**
 * A view serving a registry's metrics in Prometheus's text format: the
 * app's own (`createApp({ metrics: true })`), Node's default metrics, and
 * whatever else the registry holds. Route it where the scraper looks, and
 * keep it off the public internet (a middleware, a separate port).
 * prom-client is loaded when the view is made: a missing package fails at
 * start-up, not at the first scrape.
 *
 * @example
 * ```ts
 * const app = createApp({ metrics: true, routes: [get('/metrics', metricsView())] });
 * // with a registry of your own: createApp({ metrics: { registry } }) and metricsView({ registry })
 * ```
 */
export function metricsView(options: { registry?: MetricsRegistry } = {}): View {
  checkKeys('metricsView()', options, ['registry']);
  const given = options.registry;
  if (given !== undefined && (given === null || typeof given.metrics !== 'function')) {
    throw new TypeError(`metricsView(): registry must be a prom-client Registry, got ${describe(given)}`);
  }
  const registry = given ?? globalRegistry('metricsView()');
  return async function metrics() {
    return new HttpResponse(await registry.metrics(), { headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' } });
  };
}
