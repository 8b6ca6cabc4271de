import type { Registry } from 'prom-client';
import type { TaskRecord } from '../after/reporting.js';
import type { HttpRequest } from '../http/request.js';
import type { Logger } from '../log/logger.js';
import type { Outcome } from '../http/outcome.js';
import { describe } from '../util/describe.js';
import { echo } from '../util/echo.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { knownMethod } from './methods.js';
import { metricSet, type CounterSeries, type MetricSet } from './metric-set.js';
import type { MetricsSource } from './metrics-source.js';
import { promClient } from './peer.js';
import type { HistogramSeries, ScrapedHistogram } from './scraped-histogram.js';
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
  /** Undefined for an app whose requests are not counted here (see the constructor). */
  readonly #requestDuration: ScrapedHistogram | undefined;
  /** Request duration series by route, method and status, found without building a key. */
  readonly #requestSeries = new Map<string, Map<string, Map<number, HistogramSeries>>>();
  /** The series of a task's metrics, by kind and name, and its counter's by state. */
  readonly #taskSeries = new Map<string, TaskSeries>();
  readonly #logger: Logger;
  readonly #source: MetricsSource;
  /** Where the metrics are registered. */
  readonly registry: MetricsRegistry;

  /** `requests` false: the requests are not counted here (an adapter's app: its framework's; a worker: none), and `http_request_duration_seconds` is not registered. */
  constructor(options: true | MetricsOptions, source: MetricsSource, logger: Logger, where: string, requests: boolean) {
    const client = promClient(`${where}: metrics`);
    const settings = options === true ? {} : options;
    checkMetricsOptions(settings, where);
    const registry = (settings.registry ?? client.register) as Registry;
    const set = metricSet(client, registry, where);
    if ((settings.defaultMetrics ?? true) && !set.defaultMetrics) {
      set.defaultMetrics = true;
      // Someone may have collected them on this registry already: a second call would throw.
      if (registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) client.collectDefaultMetrics({ register: registry });
    }
    this.#set = set;
    this.#requestDuration = requests ? set.requestDuration(where) : undefined;
    this.registry = registry;
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
    const histogram = this.#requestDuration;
    if (histogram === undefined) return;
    const route = request.route ?? UNMATCHED_ROUTE;
    const method = knownMethod(request.method);
    const status = recordedStatus(outcome);
    let byMethod = this.#requestSeries.get(route);
    if (byMethod === undefined) this.#requestSeries.set(route, byMethod = new Map());
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, byStatus = new Map());
    let series = byStatus.get(status);
    if (series === undefined) byStatus.set(status, series = histogram.series(method, route, String(status)));
    series.observe((outcome.finishedAt - outcome.startedAt) / 1000);
  }

  /** A task (`kind` after) or a durable attempt (`kind` durable) ended: its record (an attempt's has these fields alike). */
  task(kind: 'after' | 'durable', end: Pick<TaskRecord, 'name' | 'state' | 'waitMs' | 'runMs'>): void {
    // A label of 200 characters at most: a name may be made from request data, and a Prometheus with label_value_length_limit fails the whole scrape on one longer.
    const name = echo(end.name);
    const series = this.#taskSeries.get(`${kind}:${name}`) ?? this.#newTask(kind, name);
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

function checkMetricsOptions(options: MetricsOptions, where: string): void {
  checkKeys(`${where} metrics`, options, KEYS);
  const { registry, defaultMetrics } = options;
  if (registry !== undefined && (registry === null || typeof (registry as Partial<Registry>).registerMetric !== 'function')) {
    throw new TypeError(`${where} metrics.registry must be a prom-client Registry, got ${describe(registry)}`);
  }
  if (defaultMetrics !== undefined) checkBoolean(`${where} metrics.defaultMetrics`, defaultMetrics);
}
