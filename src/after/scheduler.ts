import type { Logger } from 'pino';
import { isPromise } from '../pipeline/maybe-async.js';
import { untilDeadline } from '../util/deadline.js';
import { requestContext } from './context.js';
import { Job, shouldRun, taskName } from './job.js';
import { Queue } from './queue.js';
import { TaskContext } from './task-context.js';
import type { AfterEntry } from './types.js';

export interface AfterStats {
  /** Tasks accepted and not started yet. */
  pending: number;
  /** Tasks running now. */
  running: number;
  completed: number;
  failed: number;
  timedOut: number;
  /** Requests refused with 503 while the queue was full, plus tasks dropped under `overflow: 'drop'`. */
  shed: number;
  /** Tasks skipped because their `when` did not match the outcome. */
  skipped: number;
}

/** How one task ended, as told to observers (the test client). */
export interface TaskRecord {
  name: string;
  requestId: string;
  state: 'completed' | 'failed' | 'timedOut' | 'skipped' | 'abandoned';
  error?: unknown;
}

export interface TaskFailure {
  name: string;
  error: unknown;
  context: TaskContext;
}

export interface SchedulerOptions {
  /** Jobs (responses' task lists) running at once. Default 64. */
  concurrency?: number;
  /** Tasks queued before admission control starts. Default 10,000. */
  maxPending?: number;
  /** Admission resumes once pending tasks fall to this. Default 80% of `maxPending`. */
  lowWater?: number;
  /** A task still running after this long is aborted. Default 30,000 ms. */
  timeoutMs?: number;
  /**
   * What happens at `maxPending`: `'reject'` (default) answers new requests
   * with 503 and Retry-After and keeps every accepted task; `'drop'` keeps
   * admitting requests and drops the new tasks, counted and logged.
   */
  overflow?: 'reject' | 'drop';
  /** Told about every task that throws, rejects or times out. Default: one error log line. */
  onError?: (failure: TaskFailure) => void;
}

export class TaskTimeoutError extends Error {
  constructor(name: string, ms: number) {
    super(`after-response task ${name} timed out after ${ms} ms`);
  }
  override get name(): string {
    return 'TaskTimeoutError';
  }
}

/**
 * The one scheduler behind `response.after()`, `after()`, `afterResponse`
 * hooks and `requestFinished`. Jobs start on a later turn of the event loop
 * (never inside the `'finish'` that submitted them), at most `concurrency` at
 * once; a job runs its tasks in order, each in the request's async context,
 * each isolated: a throw, a rejection or a timeout is reported and the next
 * task runs.
 */
export class AfterScheduler {
  readonly #concurrency: number;
  readonly #maxPending: number;
  readonly #lowWater: number;
  readonly #timeoutMs: number;
  readonly #overflow: 'reject' | 'drop';
  readonly #onError: (failure: TaskFailure) => void;
  readonly #logger: Logger;
  readonly #queue = new Queue<Job>();
  readonly #running = new Set<TaskContext>();
  #pending = 0;
  readonly #activeJobs = new Set<Job>();
  #admitting = true;
  #startScheduled = false;
  #idleWaiters: (() => void)[] = [];
  #observers: ((record: TaskRecord) => void)[] = [];
  readonly #stats = { completed: 0, failed: 0, timedOut: 0, shed: 0, skipped: 0 };

  constructor(options: SchedulerOptions, logger: Logger) {
    this.#concurrency = positive('after.concurrency', options.concurrency ?? 64);
    this.#maxPending = positive('after.maxPending', options.maxPending ?? 10_000);
    this.#lowWater = options.lowWater ?? Math.floor(this.#maxPending * 0.8);
    if (this.#lowWater < 0 || this.#lowWater >= this.#maxPending) {
      throw new RangeError(`after.lowWater must be from 0 to below after.maxPending (${this.#maxPending}), got ${this.#lowWater}`);
    }
    this.#timeoutMs = positive('after.timeoutMs', options.timeoutMs ?? 30_000);
    this.#overflow = options.overflow ?? 'reject';
    if (this.#overflow !== 'reject' && this.#overflow !== 'drop') {
      throw new TypeError(`after.overflow must be 'reject' or 'drop', got ${JSON.stringify(this.#overflow)}`);
    }
    this.#logger = logger;
    this.#onError = options.onError ?? ((failure) => this.#logFailure(failure));
  }

  /** False while the queue is full under the `'reject'` policy: new requests get 503. */
  get admitting(): boolean {
    return this.#admitting;
  }

  stats(): AfterStats {
    return { pending: this.#pending, running: this.#running.size, ...this.#stats };
  }

  /** Counts a request refused with 503. */
  countShed(): void {
    this.#stats.shed++;
  }

  /** Queues a response's tasks. */
  submit(job: Job): void {
    if (this.#overflow === 'drop' && this.#pending >= this.#maxPending) {
      this.#drop(job.entries.slice(job.index), job);
      job.done = true;
      return;
    }
    this.#pending += job.entries.length - job.index;
    this.#queue.push(job);
    this.#checkAdmission();
    this.#scheduleStart();
  }

  /** Adds a task to a job that was already submitted (`after()` from inside a task). */
  append(job: Job, entry: AfterEntry): void {
    if (job.done) {
      this.submit(new Job(job.request, job.response, job.outcome, [entry]));
      return;
    }
    job.entries.push(entry);
    this.#pending++;
    this.#checkAdmission();
  }

  /** Resolves once no task is pending or running. */
  settle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Calls `listener` with every task's end; returns the function that stops it. */
  observe(listener: (record: TaskRecord) => void): () => void {
    this.#observers.push(listener);
    return () => {
      this.#observers = this.#observers.filter((l) => l !== listener);
    };
  }

  /**
   * Shutdown: waits for the work to finish until `deadline` (a `performance.now()`
   * time), then aborts the running tasks through their signal and gives up the
   * pending ones. Resolves with what was given up.
   */
  async drain(deadline: number): Promise<TaskRecord[]> {
    await untilDeadline(this.settle(), deadline);
    const abandoned: TaskRecord[] = [];
    for (const context of this.#running) {
      abandoned.push({ name: context.name, requestId: context.request.id, state: 'abandoned' });
      context.abort(new Error('shutdown deadline reached'));
    }
    // The rest of every job, running or queued, will not start.
    for (const job of [...this.#activeJobs, ...this.#queue.drain()]) {
      for (const entry of job.entries.slice(job.index)) abandoned.push(this.#record(entry, job, 'abandoned'));
      this.#pending -= job.entries.length - job.index;
      job.index = job.entries.length;
    }
    return abandoned;
  }

  /** No task pending or running. */
  get idle(): boolean {
    return this.#pending === 0 && this.#running.size === 0;
  }

  #scheduleStart(): void {
    if (this.#startScheduled || this.#activeJobs.size >= this.#concurrency) return;
    this.#startScheduled = true;
    setImmediate(this.#startJobs);
  }

  readonly #startJobs = (): void => {
    this.#startScheduled = false;
    while (this.#activeJobs.size < this.#concurrency) {
      const job = this.#queue.shift();
      if (job === undefined) break;
      this.#activeJobs.add(job);
      requestContext.run(job.request, this.#runJob, job);
    }
  };

  /** Runs a job's tasks from `job.index` on: synchronous ones in a loop, an async one then the rest when it settles. */
  readonly #runJob = (job: Job): void => {
    while (job.index < job.entries.length) {
      const entry = job.entries[job.index++]!;
      this.#pending--;
      if (!shouldRun(entry, job.outcome)) {
        this.#stats.skipped++;
        this.#tell(entry, job, 'skipped');
        continue;
      }
      const context = new TaskContext(job, taskName(entry));
      this.#running.add(context);
      let result: unknown;
      try {
        result = entry.task(context);
      } catch (error) {
        this.#fail(context, entry, error);
        continue;
      }
      if (isPromise(result)) {
        this.#awaitTask(job, entry, context, result);
        return;
      }
      this.#complete(context, entry);
    }
    this.#endJob(job);
  };

  #awaitTask(job: Job, entry: AfterEntry, context: TaskContext, result: PromiseLike<unknown>): void {
    const ms = entry.options?.timeoutMs ?? this.#timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const error = new TaskTimeoutError(context.name, ms);
      context.abort(error);
      this.#stats.timedOut++;
      this.#running.delete(context);
      this.#report(context, error);
      this.#tell(entry, job, 'timedOut', error);
      this.#runJob(job);
    }, ms);
    Promise.resolve(result).then(
      () => {
        if (timedOut) return;
        clearTimeout(timer);
        this.#complete(context, entry);
        this.#runJob(job);
      },
      (error: unknown) => {
        if (timedOut) return;
        clearTimeout(timer);
        this.#fail(context, entry, error);
        this.#runJob(job);
      },
    );
  }

  #complete(context: TaskContext, entry: AfterEntry): void {
    this.#running.delete(context);
    this.#stats.completed++;
    this.#tell(entry, context.job, 'completed');
  }

  #fail(context: TaskContext, entry: AfterEntry, error: unknown): void {
    this.#running.delete(context);
    this.#stats.failed++;
    this.#report(context, error);
    this.#tell(entry, context.job, 'failed', error);
  }

  #endJob(job: Job): void {
    job.done = true;
    this.#activeJobs.delete(job);
    this.#checkAdmission();
    if (this.#queue.length > 0) this.#scheduleStart();
    else this.#settleWaiters();
  }

  #report(context: TaskContext, error: unknown): void {
    try {
      this.#onError({ name: context.name, error, context });
    } catch (reportError) {
      this.#logger.error({ err: reportError }, 'after.onError threw while reporting a failed task');
    }
  }

  #logFailure({ name, error, context }: TaskFailure): void {
    const { request } = context;
    request.log.error({ err: error, task: name, method: request.method, path: request.path }, `after-response task ${name} failed`);
  }

  #drop(entries: AfterEntry[], job: Job): void {
    this.#stats.shed += entries.length;
    this.#logger.warn(
      { requestId: job.request.id, tasks: entries.map(taskName) },
      `after-response queue full (${this.#maxPending} pending): dropped ${entries.length} task(s)`,
    );
  }

  #checkAdmission(): void {
    if (this.#overflow !== 'reject') return;
    if (this.#admitting && this.#pending >= this.#maxPending) {
      this.#admitting = false;
      this.#logger.warn({ pending: this.#pending }, 'after-response queue full: refusing new requests with 503');
    } else if (!this.#admitting && this.#pending <= this.#lowWater) {
      this.#admitting = true;
      this.#logger.info({ pending: this.#pending }, 'after-response queue below its low-water mark: admitting requests again');
    }
  }

  #settleWaiters(): void {
    if (this.#idleWaiters.length === 0 || !this.idle) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #tell(entry: AfterEntry, job: Job, state: TaskRecord['state'], error?: unknown): void {
    if (this.#observers.length === 0) return;
    const record = this.#record(entry, job, state, error);
    for (const observer of this.#observers) observer(record);
  }

  #record(entry: AfterEntry, job: Job, state: TaskRecord['state'], error?: unknown): TaskRecord {
    const record: TaskRecord = { name: taskName(entry), requestId: job.request.id, state };
    if (error !== undefined) record.error = error;
    return record;
  }
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${option} must be a positive number, got ${value}`);
  return value;
}
