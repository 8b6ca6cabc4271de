import type { TaskRecord } from '../after/reporting.js';
import type { App } from '../app/app.js';
import type { AttemptRecord } from '../durable/runner.js';
import type { HttpRequest } from '../http/request.js';
import type { StoredTask, StoreStats } from '../durable/store.js';
import { thrownMessage } from '../durable/errors.js';
import { kListen, kScheduler } from '../symbols.js';
import { recordedStatus } from '../observe/recorded-status.js';
import { echo } from '../util/echo.js';
import { WindowedHistogram } from './histogram.js';
import { Ring } from './ring.js';

/** Requests per second are read over the last 10 s; percentiles and task throughput over the last minute. */
const RATE_WINDOW_MS = 10_000;
const WINDOW_MS = 60_000;
/** Task names tracked one by one; the rest are counted together, so that memory stays bounded. */
const MAX_TASK_NAMES = 64;
const OTHER_TASKS = '(other)';
/** Task ends kept per recent request. */
const TASKS_PER_REQUEST = 20;
/** Failed durable tasks shown, and how many of each one's errors. */
const FAILED_SHOWN = 20;
const ERRORS_SHOWN = 5;
/** How much of a payload, an error message or a path is kept and shown: a message may carry a whole upstream response, a path some 16 KB (64 KB over HTTP/2) a client chose. */
const TEXT_CHARS = 2_000;

/** An after-response task, or a durable task's attempt. */
export type TaskKind = 'after' | 'durable';

/** How one task (a durable task: one attempt) ended, as shown under the request that caused it: its record, the error as text. */
export interface TaskEnd extends Pick<TaskRecord, 'name' | 'state' | 'id' | 'attempt' | 'waitMs' | 'runMs'> {
  kind: TaskKind;
  error?: string;
}

/** One of the latest requests, with the tasks it caused. */
export interface RecentRequest {
  id: string;
  method: string;
  path: string;
  route: string | null;
  /** Null while the response is not done. */
  status: number | null;
  durationMs: number | null;
  /** When it came in, epoch ms. */
  at: number;
  tasks: TaskEnd[];
}

/** A task name's figures (those past the cap on names: `(other)`'s). */
export interface TaskLine {
  name: string;
  kind: TaskKind;
  /** Ends by state since the app started. */
  states: Partial<Record<TaskRecord['state'], number>>;
  /** Ends per second over the last minute. */
  perSecond: number;
  waitP95Ms: number | null;
  runP95Ms: number | null;
}

/** A durable task that failed for good, for Retry and Discard. */
export interface FailedTask {
  id: string;
  name: string;
  attempts: number;
  maxAttempts: number;
  /** The payload's JSON text, cut to 2,000 characters (as are each error's message and the request's path; its method to 200). */
  payload: string;
  errors: { attempt: number; message: string; at: number }[];
  finishedAt: number | null;
  request: { id: string; method: string; path: string } | null;
}

/** Everything the page shows, at one moment. */
export interface Snapshot {
  requests: { total: number; perSecond: number; inFlight: number; p50Ms: number | null; p95Ms: number | null };
  after: { pending: number; running: number; shed: number; oldestWaitingMs: number | null };
  /** Null when the app has no durable tasks. */
  durable: null | (Omit<StoreStats, 'byName'> & { oldestWaitingMs: number | null; error?: string });
  tasks: TaskLine[];
  failed: FailedTask[];
  recent: RecentRequest[];
}

interface TaskFigures {
  kind: TaskKind;
  states: Partial<Record<TaskRecord['state'], number>>;
  /** Every end (NaN when it never started, so counted without a wait). */
  waits: WindowedHistogram;
  runs: WindowedHistogram;
}

/**
 * The dashboard's memory of an app: fed by the app's observer (each request's
 * start and end) and task ends,
 * bounded whatever the traffic (a ring of recent requests, windowed
 * histograms, a cap on task names). Exists only when `dashboard()` is mounted.
 */
export class Recorder {
  /** The dashboard's path, as mounted. */
  #prefix = '';
  readonly #recent: Ring<RecentRequest>;
  /** The rows by request id, for the tasks a request caused (their records name it by id); the latest row of an id a client sent twice. */
  readonly #byId = new Map<string, RecentRequest>();
  /** The rows by request: the id is the client's X-Request-Id when it sends one, and two requests may carry the same. */
  readonly #rows = new WeakMap<HttpRequest, RecentRequest>();
  readonly #latency = new WindowedHistogram(1_000, 60);
  readonly #tasks = new Map<string, TaskFigures>();
  readonly #admitted = new WeakSet<HttpRequest>();
  #total = 0;
  #app: App | undefined;

  constructor(recent: number) {
    this.#recent = new Ring(recent);
  }

  /** Starts recording `app`'s requests and tasks; the dashboard's own are under `prefix`. */
  attach(app: App, prefix: string): void {
    if (this.#app !== undefined) throw new TypeError('dashboard(): these routes are in another app already; call dashboard() once per app');
    this.#app = app;
    this.#prefix = prefix;
    // The observer's start and end of each request, as metrics and tracing see them: no signal, no task per request.
    app[kListen]({
      // A request under the dashboard's path is decided at its end: left out if authorize() let it in, else shown (a probe of the dashboard).
      started: (request) => {
        if (!this.#under(request.path)) this.#add(request, Date.now());
      },
      finished: (request, outcome) => {
        const durationMs = outcome.finishedAt - outcome.startedAt;
        if (this.#under(request.path)) {
          if (this.#admitted.has(request)) return;
          this.#add(request, Date.now() - durationMs);
        }
        this.#total++;
        this.#latency.record(durationMs, outcome.finishedAt);
        const row = this.#rows.get(request);
        if (row === undefined) return;
        // As the access log and the metrics: 499 for a client gone before the head, whose status was never sent.
        row.status = recordedStatus(outcome);
        row.durationMs = durationMs;
        row.route = request.route ?? null;
      },
    });
    app[kScheduler].observe((record) => this.#ended('after', record));
    app.tasks.observe((record) => this.#ended('durable', record));
  }

  /** `request` is one of the dashboard's own, let in by `authorize()`: it is left out of the figures. */
  admit(request: HttpRequest): void {
    this.#admitted.add(request);
  }

  #under(path: string): boolean {
    return path === this.#prefix || path.startsWith(`${this.#prefix}/`);
  }

  #add(request: HttpRequest, at: number): void {
    const row: RecentRequest = { id: request.id, method: echo(request.method), path: cut(request.path), route: null, status: null, durationMs: null, at, tasks: [] };
    const evicted = this.#recent.push(row);
    if (evicted !== undefined && this.#byId.get(evicted.id) === evicted) this.#byId.delete(evicted.id);
    this.#byId.set(row.id, row);
    this.#rows.set(request, row);
  }

  #ended(kind: TaskKind, record: TaskRecord | AttemptRecord): void {
    // Cut to 200 characters, as a method is: a name may be made from request data (`after(fn, { name: request.path })`), and each recent request keeps 20.
    const name = echo(record.name);
    const figures = this.#figures(name, kind);
    figures.states[record.state] = (figures.states[record.state] ?? 0) + 1;
    const now = performance.now();
    figures.waits.record(record.waitMs ?? Number.NaN, now);
    if (record.runMs !== undefined) figures.runs.record(record.runMs, now);
    const row = record.requestId === null ? undefined : this.#byId.get(record.requestId);
    if (row === undefined || row.tasks.length >= TASKS_PER_REQUEST) return;
    const end: TaskEnd = { name, kind, state: record.state };
    if (record.id !== undefined) end.id = record.id;
    if (record.attempt !== undefined) end.attempt = record.attempt;
    if (record.waitMs !== undefined) end.waitMs = record.waitMs;
    if (record.runMs !== undefined) end.runMs = record.runMs;
    if (record.error !== undefined) end.error = errorText(record.error);
    row.tasks.push(end);
  }

  #figures(name: string, kind: TaskKind): TaskFigures {
    const key = `${kind}:${name}`;
    let figures = this.#tasks.get(key);
    if (figures === undefined) {
      // Past the cap, every new name is counted under one line (which takes the cap's place if need be).
      if (this.#tasks.size >= MAX_TASK_NAMES && name !== OTHER_TASKS) return this.#figures(OTHER_TASKS, kind);
      figures = { kind, states: {}, waits: new WindowedHistogram(5_000, 12), runs: new WindowedHistogram(5_000, 12) };
      this.#tasks.set(key, figures);
    }
    return figures;
  }

  /** What the page shows now; `hidden` requests in flight (the dashboard's own: its event streams, a snapshot request) are left out of the count. */
  async snapshot(hidden: number): Promise<Snapshot> {
    const app = this.#app;
    if (app === undefined) throw new TypeError('dashboard(): the routes are not in an app yet: put them in createApp({ routes })');
    const now = performance.now();
    const scheduler = app[kScheduler];
    const afterStats = app.afterStats();
    const oldestQueuedAt = scheduler.oldestQueuedAt;
    const tasks: TaskLine[] = [];
    for (const [key, figures] of this.#tasks) {
      tasks.push({
        name: key.slice(figures.kind.length + 1),
        kind: figures.kind,
        states: { ...figures.states },
        perSecond: figures.waits.rate(now, WINDOW_MS),
        waitP95Ms: figures.waits.quantile(0.95, now, WINDOW_MS),
        runP95Ms: figures.runs.quantile(0.95, now, WINDOW_MS),
      });
    }
    const { durable, failed } = app.tasks.defined ? await durableFigures(app) : { durable: null, failed: [] };
    return {
      requests: {
        total: this.#total,
        perSecond: this.#latency.rate(now, RATE_WINDOW_MS),
        inFlight: Math.max(0, app.requestsInFlight - hidden),
        p50Ms: this.#latency.quantile(0.5, now, WINDOW_MS),
        p95Ms: this.#latency.quantile(0.95, now, WINDOW_MS),
      },
      after: {
        pending: afterStats.pending,
        running: afterStats.running,
        shed: afterStats.shed,
        oldestWaitingMs: oldestQueuedAt === undefined ? null : now - oldestQueuedAt,
      },
      durable,
      tasks,
      failed,
      recent: this.#recent.newestFirst().map((row) => ({ ...row, tasks: [...row.tasks] })),
    };
  }
}

/** The store's counts, its oldest ready task's wait and its latest failed tasks; a store that cannot answer is named, not fatal. */
async function durableFigures(app: App): Promise<{ durable: Snapshot['durable']; failed: FailedTask[] }> {
  try {
    const [stats, nextReadyAt, failed] = await Promise.all([app.tasks.stats(), app.tasks.nextReadyAt(), app.tasks.list({ state: 'failed', limit: FAILED_SHOWN })]);
    const { byName: _, ...counts } = stats;
    const now = Date.now();
    const oldestWaitingMs = nextReadyAt !== null && nextReadyAt <= now ? now - nextReadyAt : null;
    return { durable: { ...counts, oldestWaitingMs }, failed: failed.map(failedTask) };
  } catch (error) {
    const none = { held: 0, ready: 0, delayed: 0, running: 0, completed: 0, failed: 0, oldestWaitingMs: null };
    return { durable: { ...none, error: errorText(error) }, failed: [] };
  }
}

function failedTask(task: StoredTask): FailedTask {
  return {
    id: task.id,
    name: task.name,
    attempts: task.attempt,
    maxAttempts: task.maxAttempts,
    payload: cut(task.payload),
    errors: task.errors.slice(-ERRORS_SHOWN).map(({ attempt, message, finishedAt }) => ({ attempt, message: cut(message), at: finishedAt })),
    finishedAt: task.finishedAt,
    // The method cut as in the recent requests: a task registered before routing (a middleware's) keeps one of any length app.fetch took.
    request: task.request === null ? null : { id: task.request.id, method: echo(task.request.method), path: cut(task.request.path) },
  };
}

/**
 * An error as the page shows it, cut: the recent requests keep up to 20 task
 * ends each. Read as the store keeps an attempt's error, which never throws:
 * `String()` of an object without a prototype threw in the scheduler's
 * observer, an uncaught exception.
 */
function errorText(error: unknown): string {
  return cut(thrownMessage(error));
}

function cut(text: string): string {
  return text.length > TEXT_CHARS ? `${text.slice(0, TEXT_CHARS)}…` : text;
}
