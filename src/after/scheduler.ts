import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import type { Logger } from 'pino';
import { AfterQueueFull } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import type { AfterEntry } from '../http/response.js';
import { untilDeadline } from '../util/deadline.js';
import { isPromise } from '../util/is-promise.js';
import { Queue } from '../util/queue.js';
import { Waiters } from '../util/waiters.js';
import { inJob } from './context.js';
import { Deadlines } from './deadlines.js';
import { shouldRun, taskName } from './entries.js';
import type { Job } from './job.js';
import { Reporting, TaskTimeoutError, taskRecord, type TaskRecord } from './reporting.js';
import { RunningTask } from './running-task.js';
import type { TaskTracer } from './task-spans.js';
import { schedulerSettings, type SchedulerOptions, type SchedulerSettings } from './scheduler-options.js';

/** `app.afterStats()`: the after-response tasks pending and running now, and how many ended each way so far. */
export interface AfterStats {
  /** Tasks accepted and not started yet (those registered by requests still in flight included). */
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

/** A task not ended yet, and the request it is for. */
export interface UnfinishedTask {
  name: string;
  /** `reporting`: it failed, and an async `after.onError` is still reporting it. */
  state: 'running' | 'pending' | 'reporting';
  request: HttpRequest;
}

/** How long one turn of the event loop may spend starting tasks before it lets I/O in. */
const SLICE_MS = 5;
/** Reading the clock costs: every 32 task starts is often enough to keep a turn near `SLICE_MS`. */
const CLOCK_EVERY = 32;

/**
 * The one scheduler behind `response.after()`, `after()`, `afterResponse`
 * hooks and `requestFinished`. A done job's tasks start on a later turn
 * of the event loop (never inside the `'finish'` that submitted them), at most
 * `concurrency` async ones at once, in registration order, each in its async
 * context, each isolated: a throw, a rejection or a timeout is reported and
 * the next task runs. A long run of quick tasks yields to I/O every few
 * milliseconds.
 */
export class AfterScheduler {
  readonly #settings: SchedulerSettings;
  readonly #asyncContext: boolean;
  readonly #reporting: Reporting;
  /** Set when the app traces: each task gets a span. */
  readonly #tracer: TaskTracer | undefined;
  readonly #queue = new Queue<Job>();
  readonly #running = new Deadlines((task, ms) => this.#timeOut(task, ms));
  #pending = 0;
  #admitting = true;
  #startScheduled = false;
  /** When the current turn's slice of task starts ends (`performance.now()`). */
  #sliceEnd = 0;
  /** Task starts left before the clock is read again. */
  #untilClock = 0;
  readonly #idleWaiters = new Waiters();
  /** Jobs whose end is awaited (see whenDone): how many of their async tasks run, and the waker. Mostly empty. */
  readonly #watched = new Map<Job, { running: number; done: () => void }>();
  readonly #stats = { completed: 0, failed: 0, timedOut: 0, shed: 0, skipped: 0 };

  constructor(options: SchedulerOptions, logger: Logger, asyncContext = true, tracer?: TaskTracer) {
    this.#settings = schedulerSettings(options);
    this.#asyncContext = asyncContext;
    this.#tracer = tracer;
    this.#reporting = new Reporting(logger, this.#settings.onError, this.#settings.timeoutMs, () => this.#wakeIfIdle());
  }

  /** The app's `after.timeoutMs`: how long a task may run, and other work a request caused is waited for. */
  get timeoutMs(): number {
    return this.#settings.timeoutMs;
  }

  /** False while the queue is full under the `'reject'` policy: new requests get 503. */
  get admitting(): boolean {
    return this.#admitting;
  }

  stats(): AfterStats {
    return { pending: this.#pending, running: this.#running.size, ...this.#stats };
  }

  /** When the response of the oldest job waiting to start a task was done (`performance.now()`); undefined when none waits. */
  get oldestQueuedAt(): number | undefined {
    return this.#queue.peek()?.outcome?.finishedAt;
  }

  /** Counts a request refused with 503. */
  countShed(): void {
    this.#stats.shed++;
  }

  /** Calls `listener` with every task's end; returns the function that stops it. */
  observe(listener: (record: TaskRecord) => void): () => void {
    return this.#reporting.observe(listener);
  }

  /**
   * A task registered with `after()`: counted as pending if the queue has
   * room. A full queue refuses it (`AfterQueueFull`) or, under `'drop'`,
   * drops it (false).
   */
  accept(entry: AfterEntry, job: Job): boolean {
    if (this.#pending < this.#settings.maxPending) {
      this.#pending++;
      this.#checkAdmission();
      return true;
    }
    if (this.#settings.overflow === 'reject') throw new AfterQueueFull(this.#settings.maxPending);
    this.#stats.shed++;
    this.#reporting.dropped(entry, job, this.#settings.maxPending);
    return false;
  }

  /** Gives back tasks accepted but never to be queued (their request was given up). */
  release(count: number): void {
    this.#pending -= count;
    this.#checkAdmission();
    this.#wakeIfIdle();
  }

  /**
   * Queues a done job's tasks. The first `accepted` were counted by
   * `accept()`; the rest (the response's own, the middleware's, the signal's)
   * are accepted with the response, or dropped at a full queue under `'drop'`.
   */
  submit(job: Job, accepted: number): void {
    const count = job.entries.length;
    if (count > accepted && this.#settings.overflow === 'drop' && this.#pending >= this.#settings.maxPending) {
      for (let i = accepted; i < count; i++) {
        this.#stats.shed++;
        this.#reporting.dropped(job.entries[i]!, job, this.#settings.maxPending);
      }
      job.truncate(accepted);
    }
    this.#pending += job.entries.length - accepted;
    if (job.entries.length > 0) this.enqueue(job);
    else this.#endIfDone(job);
  }

  /** A job has a task to start: queue it if it is not queued yet. */
  enqueue(job: Job): void {
    if (!job.queued) {
      job.queued = true;
      this.#queue.push(job);
    }
    this.#checkAdmission();
    this.#scheduleStart();
  }

  /** Resolves once no task is pending or running. */
  whenIdle(): Promise<void> {
    return this.#idleWaiters.wait(this.idle);
  }

  /**
   * Resolves once `job`'s response is done and each of its tasks has ended
   * (run, failed, timed out, skipped or dropped), or once the scheduler gave
   * its work up (abandon()). Asked before the response is done (its tasks are
   * counted from their start), once per job; a job refused by admission
   * control never ends here.
   */
  whenDone(job: Job): Promise<void> {
    return new Promise((done) => this.#watched.set(job, { running: 0, done }));
  }

  /**
   * Shutdown: waits for the work to finish until `deadline` (a `performance.now()`
   * time), then aborts the running tasks through their signal and gives up the
   * queued ones. Resolves with what was given up.
   */
  async drain(deadline: number): Promise<TaskRecord[]> {
    await untilDeadline(this.whenIdle(), deadline);
    return this.abandon();
  }

  /** Aborts the running tasks through their signal and gives up the queued ones (and the failures' reports still on their way), now. Returns what was given up. */
  abandon(): TaskRecord[] {
    const abandoned: TaskRecord[] = [];
    for (const task of [...this.#running]) {
      abandoned.push(taskRecord(task.entry, task.job, 'abandoned'));
      this.#running.remove(task);
      // Given up before its listeners hear it: an after() there is lost, not run after the shutdown.
      task.job.giveUp();
      this.#abort(task, new Error('shutdown deadline reached'));
      task.span?.end('abandoned');
    }
    for (const job of this.#queue.takeAll()) {
      job.giveUp();
      const { entries } = job;
      for (let i = job.index; i < entries.length; i++) abandoned.push(taskRecord(entries[i]!, job, 'abandoned'));
      this.#pending -= entries.length - job.index;
      job.index = entries.length;
      job.queued = false;
    }
    // Nothing of theirs runs any more: what was not run is in the records returned.
    for (const { done } of this.#watched.values()) done();
    this.#watched.clear();
    this.#reporting.giveUpReports();
    this.#wakeIfIdle();
    return abandoned;
  }

  /** The tasks running, then those pending, then failures still being reported, as they are (a test's `settle()` that ran out of time names them). */
  unfinished(): UnfinishedTask[] {
    const tasks: UnfinishedTask[] = [];
    for (const task of this.#running) tasks.push({ name: task.name, state: 'running', request: task.job.request });
    for (const job of this.#queue.items()) {
      for (let i = job.index; i < job.entries.length; i++) tasks.push({ name: taskName(job.entries[i]!), state: 'pending', request: job.request });
    }
    for (const task of this.#reporting.reportsInFlight) tasks.push({ name: task.name, state: 'reporting', request: task.job.request });
    return tasks;
  }

  /** No task pending or running, and no failure still being reported. */
  get idle(): boolean {
    return this.#pending === 0 && this.#running.size === 0 && this.#reporting.reportsInFlight.size === 0;
  }

  // Tasks start on a later turn of the event loop, never inside the 'finish'
  // that queued them: Node's own 'finish' work (the next request on a
  // keep-alive socket) comes first.
  #scheduleStart(): void {
    if (this.#startScheduled || this.#running.size >= this.#settings.concurrency) return;
    this.#startScheduled = true;
    setImmediate(this.#startTasks);
  }

  /** Starts queued tasks, oldest response first and in registration order, while slots are free and the slice lasts. */
  readonly #startTasks = (): void => {
    this.#startScheduled = false;
    // The slice's end is set at the first clock reading: most calls start a task or two and read no clock.
    this.#sliceEnd = -1;
    this.#untilClock = CLOCK_EVERY;
    while (this.#running.size < this.#settings.concurrency) {
      const job = this.#queue.peek();
      if (job === undefined) break;
      if (!this.#startJobTasks(job)) {
        this.#scheduleStart();
        break;
      }
    }
    this.#checkAdmission();
    this.#wakeIfIdle();
  };

  /** Starts a job's next tasks while slots are free. False when the slice is used up. */
  #startJobTasks(job: Job): boolean {
    // `job.entries` is read afresh: a task that calls after() may give it a new array.
    while (job.index < job.entries.length && this.#running.size < this.#settings.concurrency) {
      if (--this.#untilClock === 0) {
        const now = performance.now();
        if (this.#sliceEnd === -1) this.#sliceEnd = now + SLICE_MS;
        else if (now >= this.#sliceEnd) return false;
        this.#untilClock = CLOCK_EVERY;
      }
      const entry = job.entries[job.index++]!;
      this.#pending--;
      this.#startTask(job, entry);
    }
    if (job.index === job.entries.length) {
      this.#queue.shift();
      job.queued = false;
      this.#endIfDone(job);
    }
    return true;
  }

  /** Runs one task; a synchronous one is over when this returns. */
  #startTask(job: Job, entry: AfterEntry): void {
    if (!shouldRun(entry, job.outcome!)) {
      this.#stats.skipped++;
      this.#reporting.tell(entry, job, 'skipped');
      return;
    }
    const task = new RunningTask(job, entry);
    if (this.#reporting.observed) task.startedAt = performance.now();
    if (this.#tracer !== undefined) task.span = this.#tracer.startTask(task.name, job.request);
    try {
      const result = this.#asTask(task, task.span === undefined ? entry.task : runInSpan, task);
      // Inside the try: a result whose `then` getter throws is the task's failure, not the process's.
      if (isPromise(result)) {
        this.#awaitTask(task, result);
        return;
      }
    } catch (error) {
      this.#fail(task, error);
      return;
    }
    this.#complete(task);
  }

  /**
   * Calls `fn(arg)` as code of `task`: a task registered by user code in the
   * async context of its registration, with its job set again there (the
   * registration may have been outside any request: a response built at
   * start-up); Coda's own tasks in the request's context.
   */
  #asTask<A, R>(task: RunningTask, fn: (arg: A) => R, arg: A): R {
    const { scope } = task.entry;
    return scope === undefined ? inJob(task.job, this.#asyncContext, fn, arg) : scope.runInAsyncScope(inJob<A, R>, null, task.job, this.#asyncContext, fn, arg);
  }

  /**
   * Aborts a task's signal as code of the task, in its async context (the
   * timer or shutdown that aborts it may run in another request's): after()
   * in an abort listener registers for the task's request. What a listener
   * throws is reported as the task's.
   */
  #abort(task: RunningTask, reason: Error): void {
    this.#asTask(task, (): void => task.abort(reason, (thrown) => this.#reporting.abortListenerThrew(task, thrown)), undefined);
  }

  #awaitTask(task: RunningTask, result: PromiseLike<unknown>): void {
    this.#running.add(task, task.entry.options?.timeoutMs ?? this.#settings.timeoutMs);
    if (this.#watched.size !== 0) {
      const watch = this.#watched.get(task.job);
      if (watch !== undefined) watch.running++;
    }
    Promise.resolve(result).then(
      () => this.#taskEnded(task, false, undefined),
      (error: unknown) => this.#taskEnded(task, true, error),
    );
  }

  /** An async task's promise settled: counted, unless it timed out or was abandoned first. */
  #taskEnded(task: RunningTask, failed: boolean, error: unknown): void {
    if (!this.#running.has(task)) return;
    if (failed) this.#fail(task, error);
    else this.#complete(task);
    this.#freeSlot(task);
  }

  /** An async task's deadline passed (Deadlines has already let it go): abort it, report it, free its slot. */
  #timeOut(task: RunningTask, ms: number): void {
    const error = new TaskTimeoutError(task.name, ms);
    this.#stats.timedOut++;
    task.span?.end('timedOut', error);
    this.#reportFailure(task, error);
    this.#reporting.tell(task.entry, task.job, 'timedOut', error, task);
    // After the timeout's report: what an abort listener throws is reported next, as that task's.
    this.#abort(task, error);
    this.#freeSlot(task);
  }

  /** An async task ended: its slot goes to the next queued task. */
  #freeSlot(task: RunningTask): void {
    this.#running.remove(task);
    if (this.#watched.size !== 0) {
      const watch = this.#watched.get(task.job);
      if (watch !== undefined) watch.running--;
      this.#endIfDone(task.job);
    }
    if (this.#queue.length > 0) this.#startTasks();
    else this.#wakeIfIdle();
  }

  #complete(task: RunningTask): void {
    this.#stats.completed++;
    task.span?.end('completed');
    this.#reporting.tell(task.entry, task.job, 'completed', undefined, task);
  }

  #fail(task: RunningTask, error: unknown): void {
    this.#stats.failed++;
    task.span?.end('failed', error);
    this.#reportFailure(task, error);
    this.#reporting.tell(task.entry, task.job, 'failed', error, task);
  }

  /** Reports a task's failure with its span active: the line (and `onError`) is the trace's, for a mixin that reads it (instrumentation-pino's log correlation). */
  #reportFailure(task: RunningTask, error: unknown): void {
    const span = task.span;
    if (span === undefined) this.#reporting.failed(task, error);
    else span.run(() => this.#reporting.failed(task, error), undefined);
  }

  /** Tells whoever awaits `job`'s end (see whenDone) once its response is done and every task of it has ended. */
  #endIfDone(job: Job): void {
    if (this.#watched.size === 0) return;
    const watch = this.#watched.get(job);
    if (watch === undefined || watch.running > 0 || job.outcome === undefined || job.index < job.entries.length) return;
    this.#watched.delete(job);
    watch.done();
  }

  #checkAdmission(): void {
    const { maxPending, lowWater, overflow } = this.#settings;
    if (this.#pending >= maxPending) {
      if (this.#admitting && overflow === 'reject') {
        this.#admitting = false;
        this.#reporting.refusing(this.#pending);
      }
    } else if (this.#pending <= lowWater) {
      if (!this.#admitting) {
        this.#admitting = true;
        this.#reporting.admitting(this.#pending);
      }
      this.#reporting.drained(this.#pending);
    }
  }

  #wakeIfIdle(): void {
    if (this.idle) this.#idleWaiters.wake();
  }
}

/** A task run inside its span (innermost, so that the registration's async context, restored around it, does not hide the span). */
function runInSpan(task: RunningTask): unknown {
  return task.span!.run(task.entry.task, task);
}
