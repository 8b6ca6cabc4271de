import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { errorMessage } from '../util/describe.js';
import type { MetricsRegistry } from './metrics.js';

/** One registry's metrics as `getMetricsAsJSON()` gives them. */
export type CollectedMetrics = MetricObjectWithValues<MetricValue<string>>[];

/**
 * What a worker of `coda serve --workers` and its primary say about metrics:
 * a scrape a worker received goes to the primary (`metrics-scrape`), which
 * asks every worker for the registry the scraped view serves (`metrics-collect`,
 * by the view's index), and answers with their sum (`metrics-scraped`).
 */
export type MetricsMessage =
  | { coda: 'metrics-scrape'; id: number; registry: number; timeoutMs: number }
  | { coda: 'metrics-collect'; id: number; registry: number }
  | { coda: 'metrics-collected'; id: number; metrics?: CollectedMetrics; error?: string }
  | { coda: 'metrics-scraped'; id: number; text: string; contentType: string }
  | { coda: 'metrics-scraped'; id: number; error: string };

/** A scrape's answer: the text and its content type. */
export interface Scraped {
  text: string;
  contentType: string;
}

/** How much longer than the primary's own wait a worker waits for its answer. */
const PRIMARY_GRACE_MS = 1_000;

/** The registries `metricsView()` serves in this process, in the order the views were made: the same in every worker (they load one module). */
const served: MetricsRegistry[] = [];
/** In a cluster worker: the scrapes sent to the primary, by id. Undefined elsewhere: a view scrapes its own registry. */
let waiting: Map<number, (answer: Scraped | string) => void> | undefined;
let nextId = 0;

/** The index by which the primary asks every worker for `registry` (see `MetricsMessage`). */
export function servedIndex(registry: MetricsRegistry): number {
  const index = served.indexOf(registry);
  return index >= 0 ? index : served.push(registry) - 1;
}

/** In a worker of `coda serve --workers`: scrapes go to the primary, and its collects are answered. */
export function joinClusterMetrics(): void {
  waiting = new Map();
  process.on('message', onMessage);
}

/**
 * The whole cluster's metrics, from the primary; undefined outside a worker
 * of `coda serve --workers`. If the primary does not answer, this worker's
 * own, saying so.
 */
export function clusterScrape(registry: MetricsRegistry, timeoutMs: number): Promise<Scraped> | undefined {
  const scrapes = waiting;
  if (scrapes === undefined) return undefined;
  const id = nextId++;
  return new Promise<Scraped | string>((resolve) => {
    const timer = setTimeout(() => resolve(`the primary did not answer within ${timeoutMs + PRIMARY_GRACE_MS} ms`), timeoutMs + PRIMARY_GRACE_MS);
    scrapes.set(id, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
    const message: MetricsMessage = { coda: 'metrics-scrape', id, registry: servedIndex(registry), timeoutMs };
    process.send!(message, undefined, undefined, (error) => {
      if (error === null) return;
      clearTimeout(timer);
      resolve(`the primary could not be asked (${error.message})`);
    });
  }).then(async (answer) => {
    scrapes.delete(id);
    if (typeof answer !== 'string') return answer;
    return { text: `# coda: ${answer}: the metrics of worker ${process.pid} only\n${await registry.metrics()}`, contentType: registry.contentType };
  });
}

function onMessage(message: MetricsMessage): void {
  if (message?.coda === 'metrics-scraped') waiting!.get(message.id)?.('error' in message ? `the primary could not sum the workers' metrics (${message.error})` : message);
  else if (message?.coda === 'metrics-collect') void collect(message.id, message.registry);
}

/** The primary asks for this worker's metrics. */
async function collect(id: number, index: number): Promise<void> {
  let answer: MetricsMessage;
  try {
    const registry = served[index] as Registry | undefined;
    if (registry === undefined) throw new Error(`this worker serves no metricsView() number ${index + 1}`);
    answer = { coda: 'metrics-collected', id, metrics: await registry.getMetricsAsJSON() };
  } catch (error) {
    answer = { coda: 'metrics-collected', id, error: errorMessage(error) };
  }
  // The primary may be gone (shutting down): nothing waits for this answer then.
  if (process.connected) process.send!(answer, undefined, undefined, () => {});
}
