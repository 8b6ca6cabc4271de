import type { Logger } from 'pino';
import { isPromise } from '../pipeline/maybe-async.js';
import { untilDeadline } from '../util/deadline.js';
import { Waiters } from '../util/waiters.js';
import { inRequest } from './context.js';
import { Deadlines } from './deadlines.js';
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
  /**
   * Async tasks running at once (a response's async tasks may overlap when this
   * is above 1). Default 1024. It bounds throughput: with tasks of 50 ms, 1024
   * slots run at most 20,480 tasks a second; past that the queue grows to
   * `maxPending` and admission control starts.
   */
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
  readonly #running = new Deadlines((context, ms) => this.#timeOut(context, ms));
  #pending = 0;
  #admitting = true;
  #startScheduled = false;
  readonly #idleWaiters = new Waiters();
  #observers: ((record: TaskRecord) => void)[] = [];
  readonly #stats = { completed: 0, failed: 0, timedOut: 0, shed: 0, skipped: 0 };

  readonly #asyncContext: boolean;

  constructor(options: SchedulerOptions, logger: Logger, asyncContext = true) {
    this.#asyncContext = asyncContext;
    this.#concurrency = positive('after.concurrency', options.concurrency ?? 1024);
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
    const count = job.entries.length - job.index;
    if (count === 0) return;
    if (this.#overflow === 'drop' && this.#pending >= this.#maxPending) {
      this.#drop(job.entries.slice(job.index), job);
      job.index = job.entries.length;
      return;
    }
    this.#pending += count;
    this.#enqueue(job);
  }

  /** Adds a task to a response's job: `after()` from a task, or once the response is done. */
  append(job: Job, entry: AfterEntry): void {
    job.add(entry);
    this.#pending++;
    this.#enqueue(job);
  }

  #enqueue(job: Job): void {
    if (!job.queued) {
      job.queued = true;
      this.#queue.push(job);
    }
    this.#checkAdmission();
    this.#scheduleStart();
  }

  /** Resolves once no task is pending or running. */
  settle(): Promise<void> {
    return this.#idleWaiters.wait(this.idle);
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
    for (const context of [...this.#running]) {
      abandoned.push({ name: context.name, requestId: context.request.id, state: 'abandoned' });
      this.#running.remove(context);
      context.abort(new Error('shutdown deadline reached'));
    }
    for (const job of this.#queue.drain()) {
      for (const entry of job.entries.slice(job.index)) abandoned.push(this.#record(entry, job, 'abandoned'));
      this.#pending -= job.entries.length - job.index;
      job.index = job.entries.length;
      job.queued = false;
    }
    this.#settleWaiters();
    return abandoned;
  }

  /** No task pending or running. */
  get idle(): boolean {
    return this.#pending === 0 && this.#running.size === 0;
  }

  // Tasks start on a later turn of the event loop, never inside the 'finish'
  // that queued them: Node's own 'finish' work (the next request on a
  // keep-alive socket) comes first.
  #scheduleStart(): void {
    if (this.#startScheduled || this.#running.size >= this.#concurrency) return;
    this.#startScheduled = true;
    setImmediate(this.#startTasks);
  }

  /** Starts queued tasks, oldest response first and in registration order, while slots are free. */
  readonly #startTasks = (): void => {
    this.#startScheduled = false;
    while (this.#running.size < this.#concurrency) {
      const job = this.#queue.peek();
      if (job === undefined) break;
      inRequest(job.request, this.#asyncContext, this.#startJobTasks, job);
    }
    this.#checkAdmission();
    this.#settleWaiters();
  };

  /** Starts a job's next tasks while slots are free, in its request's async context (one `run()` a job). */
  readonly #startJobTasks = (job: Job): void => {
    while (job.index < job.entries.length && this.#running.size < this.#concurrency) {
      const entry = job.entries[job.index++]!;
      this.#pending--;
      this.#startTask(job, entry);
    }
    if (job.index === job.entries.length) {
      this.#queue.shift();
      job.queued = false;
    }
  };

  /** Runs one task; a synchronous one is over when this returns. */
  #startTask(job: Job, entry: AfterEntry): void {
    if (!shouldRun(entry, job.outcome)) {
      this.#stats.skipped++;
      this.#tell(entry, job, 'skipped');
      return;
    }
    const context = new TaskContext(job, entry);
    let result: unknown;
    try {
      result = entry.task(context);
    } catch (error) {
      this.#fail(context, error);
      return;
    }
    // Only an async task holds a slot: a synchronous one is over already.
    if (isPromise(result)) this.#awaitTask(entry, context, result);
    else this.#complete(context);
  }

  #awaitTask(entry: AfterEntry, context: TaskContext, result: PromiseLike<unknown>): void {
    this.#running.add(context, entry.options?.timeoutMs ?? this.#timeoutMs);
    Promise.resolve(result).then(
      () => this.#settled(context, false, undefined),
      (error: unknown) => this.#settled(context, true, error),
    );
  }

  /** An async task's promise settled: counted, unless it timed out or was abandoned first. */
  #settled(context: TaskContext, failed: boolean, error: unknown): void {
    if (!this.#running.has(context)) return;
    if (failed) this.#fail(context, error);
    else this.#complete(context);
    this.#freeSlot(context);
  }

  /** An async task's deadline passed (Deadlines has already let it go): abort it, report it, free its slot. */
  #timeOut(context: TaskContext, ms: number): void {
    const error = new TaskTimeoutError(context.name, ms);
    context.abort(error);
    this.#stats.timedOut++;
    this.#report(context, error);
    this.#tell(context.entry, context.job, 'timedOut', error);
    this.#freeSlot(context);
  }

  /** An async task ended: its slot goes to the next queued task. */
  #freeSlot(context: TaskContext): void {
    this.#running.remove(context);
    if (this.#queue.length > 0) this.#startTasks();
    else this.#settleWaiters();
  }

  #complete(context: TaskContext): void {
    this.#stats.completed++;
    this.#tell(context.entry, context.job, 'completed');
  }

  #fail(context: TaskContext, error: unknown): void {
    this.#stats.failed++;
    this.#report(context, error);
    this.#tell(context.entry, context.job, 'failed', error);
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
    if (this.idle) this.#idleWaiters.wake();
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
