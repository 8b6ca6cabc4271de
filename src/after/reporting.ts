import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import type { Logger } from 'pino';
import { tellObservers, type Observer } from '../log/observers.js';
import { safeLog, type SafeLog } from '../log/safe-log.js';
import type { AfterContext, AfterEntry } from '../http/response.js';
import { describe, readableMessage } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import { waitAtMost } from '../util/bounded-wait.js';
import { taskName } from './entries.js';
import type { Job } from './job.js';
import type { RunningTask } from './running-task.js';
import { causeSaidOnce } from '../log/cause-once.js';

/**
 * How one task ended, as told to observers (the test client) and in the
 * shutdown report. A durable task tells each attempt (`retrying` when another
 * is due), with its `id` and `attempt`.
 */
export interface TaskRecord {
  name: string;
  /** The request that registered it; empty for a durable task enqueued outside a request. */
  requestId: string;
  /**
   * After-response tasks: `completed`, `failed`, `timedOut`, `skipped`.
   * Durable attempts: `completed`, `retrying`, `failed` (a timeout too, with
   * a TaskTimeoutError), `skipped`. `abandoned` is the shutdown report's only.
   */
  state: 'completed' | 'failed' | 'timedOut' | 'skipped' | 'abandoned' | 'retrying';
  error?: unknown;
  /** Durable tasks: the task's id. */
  id?: string;
  /** Durable tasks: the attempt that ended (1-based). */
  attempt?: number;
  /** Milliseconds from the response's end (a durable task: its `runAt`) to the task's start; absent when it never started. */
  waitMs?: number;
  /** Milliseconds the task (a durable task: this attempt) ran; absent when it never started. */
  runMs?: number;
}

/** A task that threw, rejected or timed out, as `after.onError` receives it. */
export interface TaskFailure {
  name: string;
  error: unknown;
  context: AfterContext;
}

/** A task (after-response or durable) ran past its timeout: its signal fired with this. */
export class TaskTimeoutError extends Error {
  readonly code: string = 'CODA_TASK_TIMEOUT';

  constructor(name: string, ms: number) {
    super(`task ${name} timed out after ${ms} ms`);
  }
  override get name(): string {
    return 'TaskTimeoutError';
  }
}

/**
 * Where the scheduler's news goes: failures to `onError` (default: an error
 * log line with the task, request id, method and path), every task's end to
 * the observers, and the overflow episodes to the log.
 */
export class Reporting {
  readonly #logger: Logger;
  /** For the lines of observers that throw: they come on the way to a task's end, which a throwing logger must not stop either. */
  readonly #log: SafeLog;
  readonly #onError: (failure: TaskFailure) => unknown;
  #observers: Observer<TaskRecord>[] = [];
  /** Failures an async `onError` is still reporting: the scheduler is not idle (settle(), the shutdown drain) until each is. */
  readonly #reporting = new Set<RunningTask>();
  /** Told when such a report settles. */
  readonly #reported: () => void;
  /** How long such a report is waited for (`after.timeoutMs`, as a task): one that never settles holds nothing for good. */
  readonly #timeoutMs: number;
  /** Tasks dropped since the queue last filled up, under `overflow: 'drop'`. */
  #dropped = 0;

  constructor(logger: Logger, onError: ((failure: TaskFailure) => unknown) | undefined, timeoutMs: number, reported: () => void) {
    this.#logger = logger;
    this.#reported = reported;
    this.#log = safeLog(logger);
    this.#onError = onError ?? logFailure;
    this.#timeoutMs = timeoutMs;
  }

  /** Calls `listener` with every task's end; returns the function that stops it. */
  observe(listener: Observer<TaskRecord>): () => void {
    this.#observers.push(listener);
    return () => {
      this.#observers = this.#observers.filter((l) => l !== listener);
    };
  }

  /** Whether anyone observes task ends (so a task's start time is worth reading the clock for). */
  get observed(): boolean {
    return this.#observers.length > 0;
  }

  /** Tells the observers how a task ended; with its timings when it ran and was observed from its start. */
  tell(entry: AfterEntry, job: Job, state: TaskRecord['state'], error?: unknown, task?: RunningTask): void {
    if (this.#observers.length === 0) return;
    const record = taskRecord(entry, job, state, error);
    if (task !== undefined && task.startedAt > 0) {
      record.waitMs = task.startedAt - job.outcome!.finishedAt;
      record.runMs = performance.now() - task.startedAt;
    }
    tellObservers(this.#observers, record, this.#log, observerThrew);
  }

  /** A task threw, rejected or timed out. */
  failed(task: RunningTask, error: unknown): void {
    try {
      const reported = this.#onError({ name: task.name, error, context: task });
      if (isPromise(reported)) this.#awaitReport(task, reported);
    } catch (reportError) {
      // The default reporter throws only reading a value it cannot read (a Proxy whose traps throw): say that, with the request.
      if (this.#onError === logFailure) logUnreadable(task, reportError);
      // Through the safe log: a reporter's error pino cannot read (a Proxy) is not the process's end.
      else this.#log.error({ err: reportError, task: task.name }, 'after.onError threw while reporting a failed task');
    }
  }

  /**
   * A listener on the task's signal threw (or rejected) as the signal was
   * aborted (its timeout, or a shutdown that gave up): the task's error too,
   * reported as its failure is, once the abort's own end was told. Not
   * counted again: the task ended once.
   */
  abortListenerThrew(task: RunningTask, error: unknown): void {
    if (this.#onError !== logFailure) {
      this.failed(task, error);
      return;
    }
    const { name, request } = task;
    // Through the safe log: a thrown value pino cannot read (a Proxy) is written without it.
    safeLog(request.log).error({ err: error, task: name, method: request.method, path: request.path }, `an abort listener on the signal of after-response task ${name} threw`);
  }

  /** Failures an async `onError` is still reporting. */
  get reportsInFlight(): ReadonlySet<RunningTask> {
    return this.#reporting;
  }

  /** Shutdown gave up the work (its deadline passed): the reports still on their way are no longer waited for. */
  giveUpReports(): void {
    this.#reporting.clear();
  }

  /**
   * An async reporter (an error tracker over HTTP) is waited for, as the
   * task was: a test's settle() that resolved first missed its report, and
   * a shutdown could exit before it was sent. One that rejects is logged,
   * never left unhandled.
   */
  #awaitReport(task: RunningTask, reported: PromiseLike<unknown>): void {
    this.#reporting.add(task);
    const logged = Promise.resolve(reported).then(undefined, (reportError: unknown) => {
      this.#log.error({ err: reportError, task: task.name }, 'after.onError rejected while reporting a failed task');
    });
    waitAtMost(logged, this.#timeoutMs, () => {
      this.#logger.warn({ task: task.name }, `after.onError still reporting the failure of task ${task.name} after ${this.#timeoutMs} ms (after.timeoutMs): no longer waited for`);
    }, () => {
      if (this.#reporting.delete(task)) this.#reported();
    });
  }

  /** A task dropped under `overflow: 'drop'`: the first of an episode is logged, the rest counted until it ends. */
  dropped(entry: AfterEntry, job: Job, maxPending: number): void {
    if (this.#dropped++ === 0) {
      this.#logger.warn(
        { requestId: job.request.id, task: taskName(entry) },
        `after-response queue full (${maxPending} pending): dropping new tasks until it drains`,
      );
    }
  }

  refusing(pending: number): void {
    this.#logger.warn({ pending }, 'after-response queue full: refusing new requests with 503');
  }

  admitting(pending: number): void {
    this.#logger.info({ pending }, 'after-response queue below its low-water mark: admitting requests again');
  }

  /** The queue is below its low-water mark: ends a drop episode. */
  drained(pending: number): void {
    if (this.#dropped > 0) {
      this.#logger.warn({ dropped: this.#dropped, pending }, `after-response queue drained: ${this.#dropped} task(s) were dropped while it was full`);
      this.#dropped = 0;
    }
  }
}

/** The log line of an observer of task ends (the test client, metrics, the dashboard) that threw when told `record`. */
function observerThrew(record: TaskRecord): [object, string] {
  return [{ task: record.name, requestId: record.requestId }, `an observer of after-response task ends threw when told that task ${record.name} was ${record.state}: ignored`];
}

/** The record of a task of `job` that ended in `state` (no timings: `tell()` adds them for a task that ran). */
export function taskRecord(entry: AfterEntry, job: Job, state: TaskRecord['state'], error?: unknown): TaskRecord {
  const record: TaskRecord = { name: taskName(entry), requestId: job.request.id, state };
  if (error !== undefined) record.error = error;
  return record;
}

/** The default line of a task that threw a value whose reading threw `readError`: its text only (it may be as hostile). */
function logUnreadable({ name, request }: RunningTask, readError: unknown): void {
  const why = readableMessage(readError);
  request.log.error({ task: name, method: request.method, path: request.path }, `after-response task ${name} failed: it threw a value that could not be read (reading it threw: ${why})`);
}

function logFailure({ name, error, context }: TaskFailure): void {
  const { request } = context;
  // pino shows an Error's message and stack; anything else thrown (undefined, a string) is named, or the line would not say what failed.
  const thrown = error instanceof Error ? '' : `: it threw ${describe(error)}, not an Error`;
  request.log.error({ err: causeSaidOnce(error), task: name, method: request.method, path: request.path }, `after-response task ${name} failed${thrown}`);
}
