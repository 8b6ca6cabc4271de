import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TaskTimeoutError } from '../after/reporting.js';
import { OutageLog } from '../log/outage-log.js';
import { untilDeadline } from '../util/deadline.js';
import { Waiters } from '../util/waiters.js';
import { Attempt } from './attempt.js';
import { retryDelay } from './backoff.js';
import { StoreUnavailable } from './errors.js';
import type { AttemptError, Released, ReleaseClaim, StoredTask, TaskStore } from './store.js';
import { NonRetryableError, type Task } from './task.js';
import { readThrown } from './thrown.js';
import { tellObservers, type Observer } from '../log/observers.js';
import { safeLog, type SafeLog } from '../log/safe-log.js';
import { ONE_TRY, writeWithRetries, WRITE_RETRIES } from './write-retries.js';
import type { DurableTracer } from './task-tracer.js';

/** The runner's time, in epoch milliseconds: the system's, or a test's that `settle()` moves forward. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** How one attempt of a durable task ended, as told to observers (the test client). */
export interface AttemptRecord {
  id: string;
  name: string;
  requestId: string | null;
  attempt: number;
  /**
   * `retrying`: this attempt failed and another is due; `failed`: the task
   * failed for good; `skipped`: its `when` did not match its response's
   * outcome, so it was removed unrun (attempt 0, no times).
   */
  state: 'completed' | 'retrying' | 'failed' | 'skipped';
  error?: unknown;
  /** Milliseconds from the task's `runAt` to this attempt's start, on the runner's clock; absent when skipped. */
  waitMs?: number;
  /** Milliseconds this attempt ran, on the runner's clock; absent when skipped. */
  runMs?: number;
}

/** The log line of a `tasks.observe()` listener that threw when told `record` (see tellObservers). */
export function observerThrew(record: AttemptRecord): [object, string] {
  return [{ taskId: record.id, task: record.name }, `a tasks.observe() listener threw when told that durable task ${record.name} was ${record.state}: ignored`];
}

export interface RunnerSettings {
  store: TaskStore;
  definitions: ReadonlyMap<string, Task>;
  logger: Logger;
  /** Attempts running at once in this process. */
  concurrency: number;
  /** How long a hold or claim lasts without a heartbeat: a dead process's tasks are recovered after this. */
  leaseMs: number;
  /** How often to look for tasks made ready by other processes. */
  pollMs: number;
  /** How long completed tasks are kept. */
  retentionMs: number;
  clock: Clock;
  random: () => number;
  /** Set when tracing is on: each attempt gets a span. */
  tracer?: DurableTracer | undefined;
  /** The holds this process keeps (the web process's journal): renewed with its running tasks. */
  holds?: () => Iterable<string>;
  /** Told every attempt's end (the app's `tasks.observe()` listeners); none, and no record is made. */
  observers?: ReadonlySet<Observer<AttemptRecord>>;
}

/**
 * Runs durable tasks from a store: claims ready ones (its own released tasks
 * at once, others when polled), runs each attempt with a timeout, records the
 * end (completions batched per turn), retries by the task's policy, renews its
 * leases, recovers dead processes' tasks, prunes completed ones, and at
 * shutdown gives back what it could not finish. One per process and store:
 * the web process's app has one, and so has each `runWorker()`.
 */
export class Runner {
  readonly owner = randomUUID();
  readonly #settings: RunnerSettings;
  readonly #names: string[];
  readonly #limits: Record<string, number> = {};
  readonly #running = new Map<string, Attempt>();
  /** How each running attempt is ended (its first end only is recorded): failRunning() ends them all. */
  readonly #ends = new WeakMap<Attempt, (error: unknown) => void>();
  readonly #idleWaiters = new Waiters();
  /** Attempts that completed, their completion not yet written: told to observers once the store accepts it. */
  #completed: Ended[] = [];
  #claiming = false;
  /** Attempts that store calls under way (claims, releases that claim) may start: counted against `concurrency`. */
  #reserved = 0;
  /**
   * Attempts past their timeout whose task still runs (it ignores its signal): their end is recorded (retried by the
   * policy), their slot kept until they settle. Freed at the timeout, each retry of a hanging task started another
   * that never ended, without bound.
   */
  readonly #overdue = new Set<StoredTask>();
  /** Told when an attempt past its timeout settles: settle() waits for that while such attempts hold every slot. */
  readonly #overdueWaiters = new Waiters();
  #claimAgain = false;
  /** An attempt's end asked for a claim that the next completion's write carries (see #ended). */
  #claimOnFlush = false;
  /**
   * Ready tasks may wait that this runner had no room for: an attempt's end
   * then claims at once. Without one, what others make ready is found by the
   * poll (a claim after every end would cost a write transaction per task).
   */
  #backlog = true;
  #closed = false;
  /** Whether this process runs tasks, or only journals them (workers run them). */
  #claims = false;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  /** The heartbeat's timer, among `#timers`: the last stopped by `close()`. */
  #beat: NodeJS.Timeout | undefined;
  /** When the last heartbeat set this process's leases (the runner's clock): recovery renews them first if that is long past. */
  #renewedAt = 0;
  /** Store calls under way (completions, failures): settle waits for them. */
  #writes = 0;
  /** Tasks whose attempt ended, its end not yet recorded: the heartbeat renews their leases while the write is tried again. */
  readonly #unrecorded = new Set<string>();
  readonly #warnedNames = new Set<string>();
  /**
   * The store refusing this runner's own calls, which come every poll, and its process's registrations and releases
   * (the journal's, which shares it: see `outage`): one outage, logged as one, not a line per call.
   */
  readonly #outage: OutageLog;
  /** The runner's own lines, which come on the way to a task's state change: one that throws never stops that change. */
  readonly #log: SafeLog;

  constructor(settings: RunnerSettings) {
    this.#settings = settings;
    this.#log = safeLog(settings.logger);
    this.#outage = new OutageLog(this.#log, `durable task calls to the ${settings.store.description}`);
    this.#names = [...settings.definitions.keys()];
    for (const [name, definition] of settings.definitions) {
      if (definition.settings.concurrency !== undefined) this.#limits[name] = definition.settings.concurrency;
    }
  }

  /**
   * The log of the store's outage, for the journal's calls to share: a web process logged one outage twice (its
   * registrations', its runner's sweeps'), each line, summary and recovery, as two of them.
   */
  get outage(): OutageLog {
    return this.#outage;
  }

  /** Starts the timers: heartbeats, recovery, pruning and, when it runs tasks (`claims`), polling. */
  start(claims = true): void {
    const { leaseMs, clock, store } = this.#settings;
    for (const warning of store.warnings?.() ?? []) this.#log.warn({ store: store.description }, warning);
    this.#renewedAt = clock.now();
    this.#beat = this.#every(leaseMs / 3, () => this.#heartbeat());
    this.#every(leaseMs / 2, () => this.#recover());
    this.#every(Math.min(60_000, this.#settings.retentionMs), () => this.#prune());
    // A previous process's tasks whose lease has run out are taken up at once, not a period later.
    void this.#recover();
    if (claims) this.claimTasks();
  }

  /** From now on this process runs tasks: it polls the store and claims what is due (once; not after close). */
  claimTasks(): void {
    if (this.#claims || this.#closed) return;
    this.#claims = true;
    this.#every(this.#settings.pollMs, () => this.wake());
    this.wake();
  }

  /** Attempts running in this process. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Writes a release of this process's holds (`write`: the journal's), with a
   * claim for as many tasks as this runner has room for: those start at once,
   * without a claim of their own; those left ready are claimed as usual. A
   * closed runner, or one that runs no tasks, passes no claim. Rejects,
   * starting nothing, when the write does.
   */
  async release(write: (claim: ReleaseClaim | undefined) => Promise<Released>): Promise<void> {
    const { clock, leaseMs } = this.#settings;
    const limit = this.#closed || !this.#claims ? 0 : Math.max(0, this.#room());
    const now = clock.now();
    const claim = limit > 0 ? { names: this.#names, concurrency: this.#caps(), limit, now, leaseUntil: now + leaseMs } : undefined;
    this.#reserved += limit;
    try {
      let released: Released;
      try {
        released = await write(claim);
      } finally {
        // Given back in the same turn as the claimed tasks start: no claim in between sees the room twice.
        this.#reserved -= limit;
      }
      const { ready, claimed, lost } = released;
      if (lost !== undefined) {
        this.#log.error({ taskIds: lost }, `${lost.length} held durable task(s) were gone from the ${this.#settings.store.description} when their response was done (the store lost its data, or a tool removed them): they will not run`);
      }
      for (const stored of claimed) this.#start(stored);
      if (ready.length > 0) {
        this.#backlog = true;
        this.wake(ready);
      }
    } finally {
      this.#wakeIfIdle();
    }
  }

  /**
   * Each name's `concurrency` less this process's attempts of that name past their timeout and still running: the store
   * counts them as ended (their retry waits), so a task of concurrency 1 that ignored its signal had its retry, or the
   * next task of its name, started beside it.
   */
  #caps(): Record<string, number> {
    if (this.#overdue.size === 0) return this.#limits;
    const caps = { ...this.#limits };
    for (const { name } of this.#overdue) if (caps[name] !== undefined) caps[name] = Math.max(0, caps[name] - 1);
    return caps;
  }

  /** Attempts this process may still start: its concurrency, less those running and those claims under way may start. */
  #room(): number {
    return this.#settings.concurrency - this.#running.size - this.#reserved - this.#overdue.size;
  }

  /** Claims and starts what is ready, now (tasks this process just released, a retry that came due). */
  wake(ids?: readonly string[]): void {
    if (this.#closed || !this.#claims) return;
    if (this.#claiming) {
      this.#claimAgain = true;
      return;
    }
    void this.#claim(ids);
  }

  async #claim(ids: readonly string[] | undefined): Promise<void> {
    const { store, clock, leaseMs } = this.#settings;
    this.#claiming = true;
    try {
      do {
        this.#claimAgain = false;
        while (!this.#closed && this.#room() > 0) {
          const now = clock.now();
          const limit = this.#room();
          this.#reserved += limit;
          let claimed: StoredTask[];
          try {
            claimed = await store.claim({
              owner: this.owner, names: this.#names, concurrency: this.#caps(), limit, now, leaseUntil: now + leaseMs, ...(ids === undefined ? {} : { ids }),
            });
          } finally {
            this.#reserved -= limit;
          }
          this.#outage.succeeded();
          for (const stored of claimed) this.#start(stored);
          // Fewer than the room: nothing else is due, but for names at their own limit (see #ended).
          if (claimed.length === limit) this.#backlog = true;
          else if (ids === undefined) this.#backlog = false;
          if (ids !== undefined || claimed.length === 0) break;
        }
        ids = undefined;
      } while (this.#claimAgain && !this.#closed);
    } catch (error) {
      this.#refused(error, `could not claim durable tasks from the ${store.description}`);
    } finally {
      this.#claiming = false;
      this.#wakeIfIdle();
    }
  }

  #start(stored: StoredTask): void {
    const definition = this.#settings.definitions.get(stored.name)!;
    const attempt = new Attempt(stored, this.#settings.logger);
    this.#running.set(stored.id, attempt);
    let payload: unknown;
    try {
      payload = JSON.parse(stored.payload);
    } catch (error) {
      void this.#ended(attempt, new NonRetryableError(`its stored payload no longer parses as JSON: ${(error as Error).message}`), this.#settings.clock.now());
      return;
    }
    const startedAt = this.#settings.clock.now();
    const end = (error: unknown): void => {
      this.#ended(attempt, error, startedAt).catch((failure: unknown) => {
        // Recording the end failed unexpectedly: never an unhandled rejection; the lease recovers the task.
        this.#log.error({ err: failure, taskId: stored.id, task: stored.name }, 'could not record the end of a durable task attempt');
      });
    };
    this.#ends.set(attempt, end);
    // A task that ignores its signal still ends its attempt at the timeout (#ended takes the first end only), and keeps
    // its slot until it settles.
    let overdue: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      // Ended already, by shutdown or a lost store (failRunning): no slot of this process's is kept for it.
      if (this.#running.get(stored.id) !== attempt) return;
      const error = new TaskTimeoutError(stored.name, stored.timeoutMs);
      attempt.abort(error, this.#listenerThrew(attempt));
      this.#overdue.add(stored);
      overdue = setTimeout(() => this.#warnOverdue(stored), OVERDUE_WARN_MS).unref();
      end(error);
    }, stored.timeoutMs);
    const settled = (error: unknown): void => {
      clearTimeout(timer);
      end(error);
      if (overdue === undefined) return;
      clearTimeout(overdue);
      this.#overdue.delete(stored);
      this.#overdueWaiters.wake();
      this.wake();
    };
    const begin = (): Promise<unknown> => Promise.resolve().then(() => definition.run(payload, attempt));
    const { tracer } = this.#settings;
    if (tracer !== undefined) attempt.span = tracer.startAttempt(stored);
    (attempt.span === undefined ? begin() : attempt.span.run(begin, undefined)).then(
      () => settled(undefined),
      (error: unknown) => settled(error ?? new Error(`rejected with ${String(error)}`)),
    );
  }

  /** Where a throw of a listener on `attempt`'s signal goes as it is aborted: the log, naming the attempt (never the process). */
  #listenerThrew({ id, name, attempt, request }: Attempt): (error: unknown) => void {
    return (error) => this.#log.error({ err: error, taskId: id, task: name, attempt, requestId: request?.id }, `an abort listener on ctx.signal of durable task ${name} attempt ${attempt} threw`);
  }

  #warnOverdue({ id, name, attempt, timeoutMs, request }: StoredTask): void {
    this.#log.warn(
      { taskId: id, task: name, attempt, requestId: request?.id },
      `durable task ${name} attempt ${attempt} did not stop at its timeout (${timeoutMs} ms): it ignores ctx.signal, and keeps one of this process's ${this.#settings.concurrency} slots until it settles (${this.#overdue.size} such now)`,
    );
  }

  async #ended(attempt: Attempt, error: unknown, startedAt: number): Promise<void> {
    const { stored } = attempt;
    if (this.#running.get(stored.id) !== attempt) return;
    this.#running.delete(stored.id);
    if (error === undefined) {
      attempt.span?.end('completed');
      this.#completed.push({ stored, record: this.#record(stored, startedAt, 'completed') });
      if (this.#completed.length === 1) setImmediate(() => void this.#flushCompleted());
    } else {
      await this.#failed(attempt, error, startedAt);
    }
    // A worker (no journal of its own) is there to drain the shared queue: it claims after every end, as its peers do.
    // A retry may be due at once; a name with its own limit may have tasks due that only this end makes room for.
    if (this.#settings.holds === undefined || error !== undefined || this.#backlog || this.#limits[stored.name] !== undefined) {
      // A completion's claim comes with its write (see #flushCompleted): made before it, it found the name still at its cap.
      if (error === undefined) this.#claimOnFlush = true;
      else this.wake();
    }
  }

  async #failed({ stored, span }: Attempt, thrown: unknown, startedAt: number): Promise<void> {
    const { clock, random, store } = this.#settings;
    const now = clock.now();
    // Read once, whatever was thrown: a value whose reading threw left the failure unwritten (then a stall).
    const { error, message, stack, final: nonRetryable } = readThrown(thrown);
    const final = nonRetryable || stored.attempt >= stored.maxAttempts;
    const retryAt = final ? null : now + retryDelay(stored.backoff, stored.attempt, random);
    const failure: AttemptError = { attempt: stored.attempt, message, startedAt, finishedAt: now };
    if (stack !== undefined) failure.stack = stack;
    span?.end(final ? 'failed' : 'retrying', error);
    const record = this.#record(stored, startedAt, final ? 'failed' : 'retrying', error);
    const line = { err: error, taskId: stored.id, task: stored.name, attempt: stored.attempt, requestId: stored.request?.id };
    const said = final ? `durable task ${stored.name} failed for good (attempt ${stored.attempt} of ${stored.maxAttempts})` : `durable task ${stored.name} failed attempt ${stored.attempt} of ${stored.maxAttempts}; retrying`;
    // With the attempt's span active: the line is the trace's, for a mixin that reads it (instrumentation-pino's log correlation).
    if (span === undefined) this.#log.error(line, said);
    else span.run(() => this.#log.error(line, said), undefined);
    let accepted = false;
    await this.#write([stored.id], async () => {
      accepted = await store.fail(stored.id, this.owner, failure, retryAt);
    }, () => this.#told('failure', [{ stored, record }], accepted ? [stored.id] : []));
    if (retryAt !== null) this.#pollAt(retryAt);
  }

  async #flushCompleted(): Promise<void> {
    const ended = this.#completed;
    this.#completed = [];
    const ids = ended.map(({ stored }) => stored.id);
    let accepted: readonly string[] = [];
    const { store, clock, leaseMs } = this.#settings;
    const claims = this.#claimOnFlush;
    this.#claimOnFlush = false;
    // The first try claims the room this runner has (reserved as a claim's is); a retry only completes, then claims apart.
    let limit = claims && store.completeAndClaim !== undefined && !this.#closed && this.#claims ? Math.max(0, this.#room()) : undefined;
    if (limit !== undefined) this.#reserved += limit;
    await this.#write(ids, async () => {
      const now = clock.now();
      if (limit === undefined) {
        accepted = await store.complete(ids, this.owner, now);
        // A store that cannot claim as it completes: the claim follows the write, still under way for settle().
        if (claims) this.wake();
        return;
      }
      const claim = { names: this.#names, concurrency: this.#caps(), limit, now, leaseUntil: now + leaseMs };
      let claimed: StoredTask[] | undefined;
      try {
        ({ completed: accepted, claimed } = await store.completeAndClaim!(ids, this.owner, now, claim));
      } finally {
        // Given back in the same turn as the claimed tasks start, as a claim's room is.
        this.#reserved -= claim.limit;
        limit = undefined;
        // Nothing claimed (the call failed): a claim of its own takes the room.
        if (claimed === undefined) this.wake();
      }
      for (const stored of claimed) this.#start(stored);
      if (claim.limit > 0) this.#backlog = claimed.length === claim.limit;
    }, () => this.#told('completion', ended, accepted));
  }

  /**
   * Records attempts' ends, written again while the store refuses (a locked
   * file, a Redis blip), their leases renewed meanwhile: a task that
   * succeeded is not run again for a refused write. Given up (after about a
   * minute; at once once the runner is closed), the tasks are recovered when
   * their lease runs out, their attempt counted, and `written` is not called:
   * what ends the store neither accepted nor refused is not told. Written,
   * `written` tells them before the runner can be idle (settle() sees them).
   */
  async #write(ids: readonly string[], write: () => Promise<void>, written: () => void): Promise<void> {
    const { store } = this.#settings;
    this.#writes++;
    for (const id of ids) this.#unrecorded.add(id);
    try {
      const done = await writeWithRetries(write, (error) => {
        this.#refused(error, `could not record the end of durable task attempts in the ${store.description}${this.#closed ? '' : '; trying again'}`, ids.length);
      }, this.#closed ? ONE_TRY : WRITE_RETRIES);
      if (done) {
        this.#outage.succeeded();
        written();
      } else this.#log.error({ tasks: ids.length }, `gave up recording the end of durable task attempts in the ${store.description}; they will be recovered when their lease runs out`);
    } finally {
      for (const id of ids) this.#unrecorded.delete(id);
      this.#writes--;
      this.#wakeIfIdle();
    }
  }

  /**
   * How an attempt ended, at its end (the times of the end, not of its write): told once the store accepts it. None
   * when nothing observes.
   */
  #record({ id, name, request, attempt, runAt }: StoredTask, startedAt: number, state: AttemptRecord['state'], error?: unknown): AttemptRecord | undefined {
    if (this.#settings.observers === undefined || this.#settings.observers.size === 0) return undefined;
    const record: AttemptRecord = {
      id, name, requestId: request?.id ?? null, attempt, state,
      waitMs: Math.max(0, startedAt - runAt), runMs: this.#settings.clock.now() - startedAt,
    };
    if (error !== undefined) record.error = error;
    return record;
  }

  /**
   * Tells observers the ends the store accepted. An end it refused (fenced: another process claimed the task since
   * this attempt's lease ran out, as after a pause) is not this process's to report: that process reports its own
   * end, which would have been counted twice; it is logged instead.
   */
  #told(what: 'completion' | 'failure', ended: readonly Ended[], accepted: readonly string[]): void {
    const { observers, store } = this.#settings;
    const written = new Set(accepted);
    for (const { stored, record } of ended) {
      if (!written.has(stored.id)) {
        const why = store.whyRefused?.(stored.id) ?? `the ${store.description} no longer had it running for this process (its lease ran out, and another process may have taken it over)`;
        this.#log.warn(
          { taskId: stored.id, task: stored.name, attempt: stored.attempt, requestId: stored.request?.id },
          `the ${what} of durable task ${stored.name} attempt ${stored.attempt} was not recorded: ${why}`,
        );
        continue;
      }
      if (record !== undefined) tellObservers(observers!, record, this.#log, observerThrew);
    }
  }

  /** Looks again at `time`, when a retry comes due (the regular poll covers what is later than a poll away). */
  #pollAt(time: number): void {
    const delay = time - this.#settings.clock.now();
    if (delay >= this.#settings.pollMs || this.#closed) return;
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => this.wake(), Math.max(0, delay));
    this.#pollTimer.unref();
  }

  async #heartbeat(): Promise<void> {
    const { store, clock, leaseMs } = this.#settings;
    const ids = [...this.#running.keys(), ...this.#unrecorded, ...this.#settings.holds?.() ?? []];
    this.#renewedAt = clock.now();
    // Nothing to renew: no call, which would not reach the store (and so could not tell that it is back).
    if (ids.length === 0) return;
    try {
      await store.heartbeat(this.owner, clock.now() + leaseMs, ids);
      this.#outage.succeeded();
    } catch (error) {
      this.#refused(error, `could not renew durable task leases in the ${store.description}`);
    }
  }

  async #recover(): Promise<void> {
    const { store, clock, random, leaseMs } = this.#settings;
    // A stalled loop (a long synchronous task, a paused process or VM) may run recovery before the overdue heartbeat:
    // this process's own leases are renewed first, or it would recover its own live tasks (a stall charged to a running
    // attempt, a hold released with its outcome unknown). What another process took over meanwhile is no longer renewed.
    if (clock.now() - this.#renewedAt >= leaseMs / 2) await this.#heartbeat();
    try {
      const { held, running, unreadable = [] } = await store.recover(clock.now(), random, clock.now() + leaseMs);
      this.#outage.succeeded();
      if (held + running > 0) {
        this.#log.warn({ held, running }, `recovered durable tasks of a process that stopped: ${held} held, ${running} running`);
        this.wake();
      }
      // Failed for good by this recovery: the next one does not see them again.
      for (const { id, reason } of unreadable) this.#log.error({ taskId: id }, reason);
      for (const name of await store.unknownNames(this.#names)) {
        if (this.#warnedNames.has(name)) continue;
        this.#warnedNames.add(name);
        this.#log.warn({ task: name }, `durable tasks named ${name} wait in the ${store.description}, and this process does not know that task: left there`);
      }
    } catch (error) {
      this.#refused(error, `could not recover durable tasks in the ${store.description}`);
    }
  }

  async #prune(): Promise<void> {
    const { store, clock, retentionMs } = this.#settings;
    try {
      await store.prune(clock.now() - retentionMs);
      this.#outage.succeeded();
    } catch (error) {
      this.#refused(error, `could not prune completed durable tasks in the ${store.description}`);
    }
  }

  /**
   * A call of this runner's own failed (`tasks`: the attempts' ends it wrote): the store unavailable is an outage's
   * refusal (see #outage); anything else is logged as it is.
   */
  #refused(error: unknown, message: string, tasks?: number): void {
    if (error instanceof StoreUnavailable) this.#outage.failed(error, tasks);
    else this.#log.error({ err: error, tasks }, message);
  }

  #every(ms: number, run: () => unknown): NodeJS.Timeout {
    const timer = setInterval(run, Math.max(1, ms));
    timer.unref();
    this.#timers.push(timer);
    return timer;
  }

  /** No attempt running, no claim or write under way. */
  get idle(): boolean {
    return this.#running.size === 0 && !this.#claiming && this.#reserved === 0 && this.#writes === 0 && this.#completed.length === 0;
  }

  whenIdle(): Promise<void> {
    return this.#idleWaiters.wait(this.idle);
  }

  /**
   * Attempts past their timeout that still run (they ignore their signal)
   * when they hold every slot of this process: nothing more starts here until
   * one settles. Empty while there is room.
   */
  get blocking(): readonly StoredTask[] {
    return this.#room() > 0 ? [] : [...this.#overdue];
  }

  /** Resolves when an attempt past its timeout settles, its slot free again. */
  whenOverdueSettles(): Promise<void> {
    return this.#overdueWaiters.wait(this.#overdue.size === 0);
  }

  #wakeIfIdle(): void {
    if (this.idle) this.#idleWaiters.wake();
  }

  /**
   * The process is dying of `what` (an uncaught exception, an unhandled
   * rejection), `error`: stops claiming and records
   * the failure of every attempt it runs now (one try each), naming the
   * exception, so that each task is retried by its policy, or failed, with
   * that cause: not found "stalled" a lease later, which hides it. Which
   * attempt threw cannot be told: each is charged, as each would have been
   * as stalled.
   */
  async failRunning(what: string, error: unknown): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#pollTimer);
    const { error: readable, message, stack } = readThrown(error);
    const died = new Error(`the process died of ${what} while this attempt ran: ${message}`, { cause: readable });
    if (stack !== undefined) died.stack = stack;
    for (const attempt of [...this.#running.values()]) {
      attempt.abort(died, this.#listenerThrew(attempt));
      this.#ends.get(attempt)!(died);
    }
    await this.whenIdle();
  }

  /**
   * Shutdown: stops claiming, lets running attempts finish until `deadline`
   * (a `performance.now()` time), then aborts the rest through their signal
   * and gives them back to the store, their attempt not counted. Resolves
   * with the tasks left in the store that way.
   */
  async close(deadline: number): Promise<StoredTask[]> {
    this.#closed = true;
    // The heartbeat goes on while attempts finish: a process shutting down is not a dead one, whose tasks others take over.
    for (const timer of this.#timers) if (timer !== this.#beat) clearInterval(timer);
    clearTimeout(this.#pollTimer);
    await untilDeadline(this.whenIdle(), deadline);
    clearInterval(this.#beat);
    const left = [...this.#running.values()];
    this.#running.clear();
    for (const attempt of left) {
      attempt.abort(new Error('shutdown deadline reached'), this.#listenerThrew(attempt));
      attempt.span?.end('abandoned');
    }
    // A store that stops answering must not hold shutdown past its deadline by more than a short grace.
    const grace = performance.now() + STORE_GRACE_MS;
    if (left.length > 0) {
      const { store } = this.#settings;
      const lost = 'they will be recovered when their lease runs out';
      try {
        // untilDeadline handles a rejection that comes after the grace, too.
        if (!(await untilDeadline(store.giveBack(left.map(({ stored }) => stored.id), this.owner), grace))) {
          this.#log.error({ tasks: left.length }, `the ${store.description} did not take running durable tasks back within ${STORE_GRACE_MS} ms of the deadline; ${lost}`);
        }
      } catch (error) {
        this.#log.error({ err: error }, `could not give running durable tasks back to the ${store.description}; ${lost}`);
      }
    }
    if (this.#completed.length > 0) await untilDeadline(this.#flushCompleted(), grace);
    return left.map(({ stored }) => stored);
  }
}

/** An attempt's end waiting for its write, with what observers are told once the store accepts it. */
interface Ended {
  stored: StoredTask;
  record: AttemptRecord | undefined;
}

/** How long after its timeout an attempt that has not settled is logged as ignoring its signal. */
const OVERDUE_WARN_MS = 1000;
/** How long after its deadline shutdown waits for the store to take back what it aborted and what completed. */
const STORE_GRACE_MS = 1000;
