import type { Metric, Registry } from 'prom-client';
import type { Scraped } from './cluster-scrape.js';
import type { PromClient } from './peer.js';

const OPEN_METRICS = 'application/openmetrics-text';
const MEDIA_RANGE = /^\s*([^\s;,/]+)\/([^\s;,]+)\s*(.*)$/;
const Q = /;\s*q\s*=\s*([0-9.]+)/i;

/**
 * Whether a scraper's Accept prefers OpenMetrics to Prometheus's text
 * format: OpenMetrics' weight is above 0 and above text/plain's, each read
 * from its most specific range (`text/plain`, else `text/*`, else `*\/*`).
 * Prometheus sends `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`:
 * OpenMetrics. A browser, curl (`*\/*`) or no Accept at all: the text format.
 */
export function wantsOpenMetrics(accept: string | null): boolean {
  if (accept === null) return false;
  // The weight of each range named, the highest when one is named twice (versions).
  const weights = new Map<string, number>();
  for (const part of accept.split(',')) {
    const match = MEDIA_RANGE.exec(part);
    if (match === null) continue;
    const q = Q.exec(match[3]!);
    const weight = q === null ? 1 : Math.min(Number(q[1]), 1);
    if (!Number.isFinite(weight)) continue;
    const range = `${match[1]!.toLowerCase()}/${match[2]!.toLowerCase()}`;
    weights.set(range, Math.max(weights.get(range) ?? 0, weight));
  }
  const weightOf = (...ranges: string[]): number => weights.get(ranges.find((range) => weights.has(range)) ?? '') ?? 0;
  const open = weightOf(OPEN_METRICS, 'application/*', '*/*');
  return open > 0 && open > weightOf('text/plain', 'text/*', '*/*');
}

/**
 * A registry's metrics in the OpenMetrics format, leaving the registry as it
 * is. prom-client writes OpenMetrics only from a registry made for it, and
 * then renames its counters for good (`x_total` becomes `x`, so its text
 * format would say `x`): this writes from a registry of its own, made for
 * the scrape, over the metrics' JSON (the registry's default labels in it).
 */
export async function openMetricsText(client: PromClient, registry: Registry): Promise<Scraped> {
  // prom-client's types leave out the constructor's content type.
  const scrape = new (client.Registry as new (contentType: string) => Registry)(client.Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of await registry.getMetricsAsJSON()) {
    // A counter family is named without _total; its samples get it back. (The type is a string: prom-client's types say an enum.)
    const family = String(metric.type) === 'counter' ? { ...metric, name: metric.name.replace(/_total$/, '') } : metric;
    scrape.registerMetric({ ...family, get: () => family } as unknown as Metric);
  }
  return { text: await scrape.metrics(), contentType: scrape.contentType };
}
