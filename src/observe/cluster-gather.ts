import type { Worker } from 'node:cluster';
import type { CollectedMetrics, MetricsMessage, Scraped } from './cluster-scrape.js';
import { promClient } from './peer.js';
import { errorMessage } from '../util/describe.js';
import { tellWorker } from '../util/tell-worker.js';

/** Gauges of the store, which every worker reads alike (durable tasks pending and running in all processes): one worker's, not their sum. */
const STORE_WIDE = new Set(['coda_tasks_pending', 'coda_tasks_running']);

/**
 * The primary's side of metrics under `coda serve --workers`: a scrape that
 * reached one worker is answered with every worker's metrics, summed by
 * prom-client's `AggregatorRegistry`. A worker that does not answer within
 * the view's `clusterTimeoutMs` is left out, and the scrape says so.
 */
export class ClusterMetrics {
  /** The workers serving now. */
  readonly #workers: () => Iterable<Worker>;
  /** Where the primary says what a scrape left out. */
  readonly #warn: (line: string) => void;
  /** Collects under way, by id. */
  readonly #collects = new Map<number, (message: MetricsMessage & { coda: 'metrics-collected' }) => void>();
  #nextId = 0;

  constructor(workers: () => Iterable<Worker>, warn: (line: string) => void) {
    this.#workers = workers;
    this.#warn = warn;
  }

  /** A worker's message (any: those about metrics are handled). */
  handle(worker: Worker, message: MetricsMessage): void {
    if (message?.coda === 'metrics-collected') this.#collects.get(message.id)?.(message);
    else if (message?.coda === 'metrics-scrape') void this.#scrape(worker, message);
  }

  async #scrape(asker: Worker, { id, registry, timeoutMs }: MetricsMessage & { coda: 'metrics-scrape' }): Promise<void> {
    let answer: MetricsMessage;
    try {
      answer = { coda: 'metrics-scraped', id, ...await this.#gather(registry, timeoutMs) };
    } catch (error) {
      // The worker answers with its own metrics then, saying why.
      answer = { coda: 'metrics-scraped', id, error: errorMessage(error) };
    }
    tellWorker(asker, answer);
  }

  async #gather(registry: number, timeoutMs: number): Promise<Scraped> {
    const workers = [...this.#workers()];
    const results = await Promise.all(workers.map((worker) => this.#collect(worker, registry, timeoutMs)));
    const collected: CollectedMetrics[] = [];
    const pids: number[] = [];
    const notes: string[] = [];
    // The store's gauges of the first worker that has them: one whose store did not answer this time has none.
    let storeWide = false;
    results.forEach((result, i) => {
      const pid = workers[i]!.process.pid!;
      if (typeof result !== 'string') {
        collected.push(storeWide ? withoutStoreWide(result) : result);
        storeWide ||= result.some((metric) => STORE_WIDE.has(metric.name) && metric.values.some(isStoreWide));
        pids.push(pid);
        return;
      }
      const note = `worker ${pid} ${result}: its metrics are left out of this scrape`;
      this.#warn(`coda: metrics: ${note}`);
      notes.push(`# coda: ${note}\n`);
    });
    const client = promClient('metricsView() under coda serve --workers');
    const sum = client.AggregatorRegistry.aggregate(collected);
    const head = `# coda: the metrics of workers ${pids.join(', ')} (coda serve --workers), summed\n`;
    return { text: head + notes.join('') + await sum.metrics(), contentType: sum.contentType };
  }

  /** One worker's metrics, or why there are none. */
  #collect(worker: Worker, registry: number, timeoutMs: number): Promise<CollectedMetrics | string> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const done = (result: CollectedMetrics | string): void => {
        clearTimeout(timer);
        this.#collects.delete(id);
        resolve(result);
      };
      const timer = setTimeout(() => done(`did not answer within ${timeoutMs} ms`), timeoutMs);
      this.#collects.set(id, (message) => done(message.metrics ?? `could not collect them (${message.error})`));
      const asked = tellWorker(worker, { coda: 'metrics-collect', id, registry } satisfies MetricsMessage, (error) => done(`could not be asked (${error.message})`));
      if (!asked) done('is not connected');
    });
  }
}

/** A worker's metrics without the store's gauges' durable series, which another worker's stand for. */
function withoutStoreWide(metrics: CollectedMetrics): CollectedMetrics {
  return metrics.map((metric) => STORE_WIDE.has(metric.name) ? { ...metric, values: metric.values.filter((value) => !isStoreWide(value)) } : metric);
}

/** Whether a sample of a store gauge is the store's (`kind="durable"`), not the worker's own. */
function isStoreWide(value: CollectedMetrics[number]['values'][number]): boolean {
  return value.labels['kind'] === 'durable';
}
