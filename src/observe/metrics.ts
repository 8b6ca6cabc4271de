import type { Counter, Metric, Registry } from 'prom-client';
import type { HttpRequest } from '../http/request.js';
import type { Logger } from '../log/logger.js';
import type { Outcome } from '../http/response.js';
import { describe } from '../util/describe.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { knownMethod } from './methods.js';
import { promClient, type PromClient } from './peer.js';
import { ScrapedHistogram, type HistogramSeries } from './scraped-histogram.js';
import { recordedStatus } from './recorded-status.js';

/**
 * A prom-client `Registry` (Coda needs only these of its methods; typed
 * here so that Coda's types do not need prom-client installed).
 */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** `metrics` in `createApp()`: `true`, or where the metrics go. */
export interface MetricsOptions {
  /** The prom-client `Registry` to register Coda's metrics in. Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
  /** Also collect Node's default metrics (prom-client's `collectDefaultMetrics`), once per registry. Default true. */
  defaultMetrics?: boolean;
}

/** What the gauges read from an app when the registry is scraped. */
export interface MetricsSource {
  /** The after-response scheduler's counts. */
  after(): { pending: number; running: number };
  /** The durable tasks' counts in the store; undefined when the app has none. */
  durable(): Promise<{ pending: number; running: number }> | undefined;
}

/** How a task (or a durable attempt) ended, as the metrics count it. */
export interface TaskEnd {
  name: string;
  state: string;
  waitMs?: number | undefined;
  runMs?: number | undefined;
}

/** Where the buckets of the request histogram come from: OpenTelemetry's for `http.server.request.duration`. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Tasks run longer and wait longer than requests: up to five minutes. */
const TASK_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
/**
 * Task names an app gives series of their own. A name is any string
 * (`after(fn, { name })`): one made from request data would grow the series,
 * in this process and in Prometheus, without bound.
 */
const MAX_TASK_NAMES = 256;
const OTHER_TASKS = '(other)';
/** The route label of a request no route matched: not a path, so it cannot meet a pattern. */
const UNMATCHED_ROUTE = 'unmatched';
const KEYS = ['registry', 'defaultMetrics'];
/** Every name Coda registers. */
const NAMES = [
  'http_request_duration_seconds', 'coda_tasks_total', 'coda_task_run_seconds', 'coda_task_wait_seconds',
  'coda_requests_shed_total', 'coda_requests_refused_total', 'coda_tasks_pending', 'coda_tasks_running',
];

/** A counter's series kept as a plain number, added to prom-client's counter when the registry is scraped. */
interface CounterSeries {
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
class MetricSet {
  readonly requestDuration: ScrapedHistogram;
  readonly taskRun: ScrapedHistogram;
  readonly taskWait: ScrapedHistogram;
  readonly shed: Counter;
  readonly refused: Counter;
  /** The apps whose counts the gauges read, with the logger that hears when their store cannot answer. */
  readonly sources = new Map<MetricsSource, Logger>();
  /** `coda_tasks_total`'s series, by kind, task and state joined. */
  readonly #taskEnds = new Map<string, CounterSeries>();
  defaultMetrics = false;

  constructor(client: PromClient, registry: Registry) {
    const registers = [registry];
    const sources = this.sources;
    const histogram = (config: ConstructorParameters<typeof ScrapedHistogram>[0]): ScrapedHistogram => {
      const metric = new ScrapedHistogram(config);
      registry.registerMetric(metric as unknown as Metric);
      return metric;
    };
    this.requestDuration = histogram({
      name: 'http_request_duration_seconds', help: 'Time from a request\'s arrival to its response\'s last byte, by route pattern',
      labelNames: ['method', 'route', 'status_code'], buckets: REQUEST_BUCKETS,
    });
    const taskEnds = this.#taskEnds;
    new client.Counter({
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
      name: 'coda_requests_refused_total', help: 'Requests the server refused before the app saw them (malformed: 400; too large: 431 or 413; too slow to arrive: 408; CONNECT: 501; an Expect it does not meet: 417), by status',
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
        logger.warn({ err: error }, 'metrics: the task store did not answer: coda_tasks_pending and coda_tasks_running leave kind="durable" out of this scrape');
      }));
    }
  }
  await Promise.all(reads);
  return [after, answered ? durable : undefined];
}

const sets = new WeakMap<object, MetricSet>();

/** One task's series: its ends by state, its run and wait times. */
interface TaskSeries {
  /** Its label: the task's name, or `(other)`. */
  name: string;
  ends: Map<string, CounterSeries>;
  run: HistogramSeries;
  wait: HistogramSeries;
}

/**
 * One app's metrics, through prom-client (loaded when metrics are turned
 * on): request durations by route pattern (never the raw path, so the
 * number of series stays bounded), tasks by name and state, their run and
 * wait times, the tasks pending and running, and requests shed.
 */
export class Metrics {
  readonly #set: MetricSet;
  /** Request duration series by route, method and status, found without building a key. */
  readonly #requestSeries = new Map<string, Map<string, Map<number, HistogramSeries>>>();
  /** The series of a task's metrics, by kind and name, and its counter's by state. */
  readonly #taskSeries = new Map<string, TaskSeries>();
  readonly #logger: Logger;
  readonly #source: MetricsSource;

  constructor(options: true | MetricsOptions, source: MetricsSource, logger: Logger, where: string) {
    const client = promClient(`${where}: metrics`);
    const settings = options === true ? {} : options;
    checkMetricsOptions(settings, where);
    const registry = (settings.registry ?? client.register) as Registry;
    let set = sets.get(registry);
    // A registry cleared since (`registry.clear()`, as test suites do between tests) no longer holds them: they are registered anew.
    if (set === undefined || registry.getSingleMetric(set.requestDuration.name) !== (set.requestDuration as unknown)) {
      checkFree(registry, where);
      set = new MetricSet(client, registry);
      sets.set(registry, set);
    }
    if ((settings.defaultMetrics ?? true) && !set.defaultMetrics) {
      set.defaultMetrics = true;
      // Someone may have collected them on this registry already: a second call would throw.
      if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) client.collectDefaultMetrics({ register: registry });
    }
    this.#set = set;
    this.#logger = logger;
    this.#source = source;
    this.reopen();
  }

  /**
   * The app is shut down: the gauges no longer read its counts (its store is
   * closed, and would fail every scrape's durable series), and the registry
   * no longer holds the app. Its requests and tasks stay counted: counters
   * never go down.
   */
  close(): void {
    this.#set.sources.delete(this.#source);
  }

  /** The gauges read the app's counts: from its start, and again once it is served again (see close()). */
  reopen(): void {
    this.#set.sources.set(this.#source, this.#logger);
  }

  /** A response is done. */
  request(request: HttpRequest, outcome: Outcome): void {
    const route = request.route ?? UNMATCHED_ROUTE;
    const method = knownMethod(request.method);
    const status = recordedStatus(outcome);
    let byMethod = this.#requestSeries.get(route);
    if (byMethod === undefined) this.#requestSeries.set(route, byMethod = new Map());
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, byStatus = new Map());
    let series = byStatus.get(status);
    if (series === undefined) byStatus.set(status, series = this.#set.requestDuration.series(method, route, String(status)));
    series.observe((outcome.finishedAt - outcome.startedAt) / 1000);
  }

  /** A task (`kind` after) or a durable attempt (`kind` durable) ended. */
  task(kind: 'after' | 'durable', end: TaskEnd): void {
    const series = this.#taskSeries.get(`${kind}:${end.name}`) ?? this.#newTask(kind, end.name);
    let ends = series.ends.get(end.state);
    if (ends === undefined) series.ends.set(end.state, ends = this.#set.taskEnds(kind, series.name, end.state));
    ends.value++;
    if (end.runMs !== undefined) series.run.observe(end.runMs / 1000);
    if (end.waitMs !== undefined) series.wait.observe(end.waitMs / 1000);
  }

  /** The series of a task name not seen yet: its own, or past `MAX_TASK_NAMES` the `(other)` ones (which take the cap's place if need be). */
  #newTask(kind: 'after' | 'durable', given: string): TaskSeries {
    let name = given;
    if (this.#taskSeries.size >= MAX_TASK_NAMES && name !== OTHER_TASKS) {
      const other = this.#taskSeries.get(`${kind}:${OTHER_TASKS}`);
      if (other !== undefined) return other;
      this.#logger.warn({ task: given }, `metrics: more than ${MAX_TASK_NAMES} task names: the tasks of every new name are counted under task="${OTHER_TASKS}" (is a name made from request data?)`);
      name = OTHER_TASKS;
    }
    const set = this.#set;
    const series: TaskSeries = { name, ends: new Map(), run: set.taskRun.series(kind, name), wait: set.taskWait.series(kind, name) };
    this.#taskSeries.set(`${kind}:${name}`, series);
    return series;
  }

  /** A request was refused with 503: the after-response queue is full. */
  shed(): void {
    this.#set.shed.inc();
  }

  /** The server refused a request before the app saw it (see refusal.ts): rare, so counted in prom-client's counter at once. */
  refused(status: number): void {
    this.#set.refused.inc({ status_code: String(status) });
  }
}

/** Refuses a registry holding a metric of one of Coda's names that is not Coda's (before any is registered: nothing half done). */
function checkFree(registry: Registry, where: string): void {
  const taken = NAMES.filter((name) => registry.getSingleMetric(name) !== undefined);
  if (taken.length > 0) {
    throw new Error(`${where}: metrics: the registry already has a metric named ${taken.join(', ')} that is not Coda's; remove it, or give Coda a registry of its own: metrics: { registry: new Registry() }, served by metricsView({ registry })`);
  }
}

function checkMetricsOptions(options: MetricsOptions, where: string): void {
  checkKeys(`${where} metrics`, options, KEYS);
  const { registry, defaultMetrics } = options;
  if (registry !== undefined && (registry === null || typeof (registry as Partial<Registry>).registerMetric !== 'function')) {
    throw new TypeError(`${where} metrics.registry must be a prom-client Registry, got ${describe(registry)}`);
  }
  if (defaultMetrics !== undefined) checkBoolean(`${where} metrics.defaultMetrics`, defaultMetrics);
}
