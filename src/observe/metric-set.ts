import type { Counter, Metric, Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { PromClient } from './peer.js';
import { ScrapedHistogram } from './scraped-histogram.js';
import type { MetricsSource } from './metrics-source.js';
import { causeSaidOnce } from '../log/cause-once.js';

/** Where the buckets of the request histogram come from: OpenTelemetry's for `http.server.request.duration`. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Tasks run longer and wait longer than requests: up to five minutes. */
const TASK_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
/** The request histogram's name: registered only for an app that counts its requests (see `requestDuration()`). */
const REQUEST_DURATION = 'http_request_duration_seconds';
/** Every other name Coda registers. */
const NAMES = [
  'coda_tasks_total', 'coda_task_run_seconds', 'coda_task_wait_seconds',
  'coda_requests_shed_total', 'coda_requests_refused_total', 'coda_tasks_pending', 'coda_tasks_running',
];

/** A counter's series kept as a plain number, added to prom-client's counter when the registry is scraped. */
export interface CounterSeries {
  readonly labels: Record<string, string>;
  value: number;
  /** How much of `value` prom-client's counter has been given. */
  given: number;
}

/**
 * Coda's metrics in one registry, shared by every app that uses it (a
 * registry takes each name once). Requests and tasks count into plain
 * numbers (ScrapedHistogram, CounterSeries) that become prom-client samples
 * only when the registry is scraped: a request does no prom-client work.
 */
export class MetricSet {
  readonly taskRun: ScrapedHistogram;
  readonly taskWait: ScrapedHistogram;
  readonly shed: Counter;
  readonly refused: Counter;
  /** The apps whose counts the gauges read, with the logger that hears when their store cannot answer. */
  readonly sources = new Map<MetricsSource, Logger>();
  /** `coda_tasks_total`'s series, by kind, task and state joined. */
  readonly #taskEnds = new Map<string, CounterSeries>();
  readonly #registry: Registry;
  /** `coda_tasks_total`, by which a registry cleared since is told (see `metricSet()`). */
  readonly tasksTotal: Counter;
  #requestDuration: ScrapedHistogram | undefined = undefined;
  defaultMetrics = false;

  constructor(client: PromClient, registry: Registry) {
    this.#registry = registry;
    const registers = [registry];
    const sources = this.sources;
    const histogram = (config: ConstructorParameters<typeof ScrapedHistogram>[0]): ScrapedHistogram => registered(registry, new ScrapedHistogram(config));
    const taskEnds = this.#taskEnds;
    this.tasksTotal = new client.Counter({
      name: 'coda_tasks_total', help: 'Tasks ended, by kind (after: after-response, durable: durable attempts), task name and state',
      labelNames: ['kind', 'task', 'state'], registers,
      collect() {
        for (const series of taskEnds.values()) {
          if (series.value > series.given) this.inc(series.labels, series.value - series.given);
          series.given = series.value;
        }
      },
    });
    this.taskRun = histogram({
      name: 'coda_task_run_seconds', help: 'How long a task (a durable task: one attempt) ran', labelNames: ['kind', 'task'], buckets: TASK_BUCKETS,
    });
    this.taskWait = histogram({
      name: 'coda_task_wait_seconds', help: 'How long a task waited to start: from its response\'s end (a durable task: from when it was due)',
      labelNames: ['kind', 'task'], buckets: TASK_BUCKETS,
    });
    this.shed = new client.Counter({ name: 'coda_requests_shed_total', help: 'Requests refused with 503 while the after-response queue was full', registers });
    this.refused = new client.Counter({
      name: 'coda_requests_refused_total', help: 'Requests the server refused before the app saw them (malformed, an HTTP/0.9 request line among them: 400; too large: 414, 431 or 413; too slow to arrive: 408; CONNECT, or a Transfer-Encoding coding before chunked: 501; an Expect it does not meet: 417; the HTTP/2 preface on an HTTP/1.1 connection: 505), by status',
      labelNames: ['status_code'], registers,
    });
    const gauges = [
      ['pending', 'Tasks accepted and not started (durable: held, ready or delayed in the store)'],
      ['running', 'Tasks running now (durable: in every process on the store)'],
    ] as const;
    // One read of the counts (a store query per app) serves both gauges of a scrape.
    let scrape: ReturnType<typeof totals> | undefined;
    const counts = (): ReturnType<typeof totals> => {
      if (scrape === undefined) {
        scrape = totals(sources);
        void scrape.finally(() => setImmediate(() => { scrape = undefined; })).catch(() => {});
      }
      return scrape;
    };
    for (const [count, help] of gauges) {
      new client.Gauge({
        name: `coda_tasks_${count}`, help, labelNames: ['kind'], registers,
        async collect() {
          const [after, durable] = await counts();
          // Set anew each scrape: a durable count the store could not give this time is left out, not shown stale.
          this.reset();
          this.set({ kind: 'after' }, after[count]);
          if (durable !== undefined) this.set({ kind: 'durable' }, durable[count]);
        },
      });
    }
  }

  /**
   * `http_request_duration_seconds`, registered by the first app on the
   * registry that counts its requests: an adapter's app (whose framework
   * counts them, often under that very name: express-prom-bundle,
   * fastify-metrics) and a worker never register it.
   */
  requestDuration(where: string): ScrapedHistogram {
    if (this.#requestDuration === undefined) {
      checkFree(this.#registry, where, [REQUEST_DURATION]);
      this.#requestDuration = registered(this.#registry, new ScrapedHistogram({
        name: REQUEST_DURATION, help: 'Time from a request\'s arrival to its response\'s last byte, by route pattern',
        labelNames: ['method', 'route', 'status_code'], buckets: REQUEST_BUCKETS,
      }));
    }
    return this.#requestDuration;
  }

  /** The `coda_tasks_total` series of a task's kind, name and state. */
  taskEnds(kind: string, task: string, state: string): CounterSeries {
    const key = `${kind}\0${task}\0${state}`;
    let series = this.#taskEnds.get(key);
    if (series === undefined) this.#taskEnds.set(key, series = { labels: { kind, task, state }, value: 0, given: 0 });
    return series;
  }
}

interface Counts {
  pending: number;
  running: number;
}

/**
 * The counts of every app on a registry, summed; the durable ones undefined
 * when a store could not answer (a partial sum would be wrong). That failure
 * is logged, and leaves the rest of the scrape standing: request and task
 * metrics matter most while the store is down.
 */
async function totals(sources: Map<MetricsSource, Logger>): Promise<[Counts, Counts | undefined]> {
  const after = { pending: 0, running: 0 };
  const durable = { pending: 0, running: 0 };
  let answered = true;
  const reads: Promise<void>[] = [];
  for (const [source, logger] of sources) {
    const counts = source.after();
    after.pending += counts.pending;
    after.running += counts.running;
    const stored = source.durable();
    if (stored !== undefined) {
      reads.push(stored.then((counts) => {
        durable.pending += counts.pending;
        durable.running += counts.running;
      }, (error: unknown) => {
        answered = false;
        logger.warn({ err: causeSaidOnce(error) }, 'metrics: the task store did not answer: coda_tasks_pending and coda_tasks_running leave kind="durable" out of this scrape');
      }));
    }
  }
  await Promise.all(reads);
  return [after, answered ? durable : undefined];
}

/** Each registry's set: a registry takes each of Coda's names once, whatever the apps on it. */
const sets = new WeakMap<object, MetricSet>();

/**
 * The metric set of `registry`, made and registered there by its first app.
 * A registry cleared since (`registry.clear()`, as test suites do between
 * tests) no longer holds it: it is registered anew.
 */
export function metricSet(client: PromClient, registry: Registry, where: string): MetricSet {
  let set = sets.get(registry);
  if (set === undefined || registry.getSingleMetric('coda_tasks_total') !== (set.tasksTotal as unknown)) {
    checkFree(registry, where, NAMES);
    set = new MetricSet(client, registry);
    sets.set(registry, set);
  }
  return set;
}

function registered(registry: Registry, metric: ScrapedHistogram): ScrapedHistogram {
  registry.registerMetric(metric as unknown as Metric);
  return metric;
}

/** Refuses a registry holding a metric of one of `names` that is not Coda's (before any is registered: nothing half done). */
function checkFree(registry: Registry, where: string, names: readonly string[]): void {
  const taken = names.filter((name) => registry.getSingleMetric(name) !== undefined);
  if (taken.length > 0) {
    throw new Error(`${where}: metrics: the registry already has a metric named ${taken.join(', ')} that is not Coda's; remove it, or give Coda a registry of its own: metrics: { registry: new Registry() }, served by metricsView({ registry })`);
  }
}
