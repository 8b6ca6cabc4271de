import type { Logger } from 'pino';
import type { Exchange } from '../after/exchange.js';
import { whenAllows } from '../after/entries.js';
import type { Hold } from '../after/job.js';
import { taskEntry, type TaskAfterOptions, type TaskEntry, type TaskRegistration } from '../http/task-entry.js';
import type { HttpRequest } from '../http/request.js';
import { kDefinitions, kRouteTarget, kRunnerSettings, kStore, kTracer } from '../symbols.js';
import { untilDeadline } from '../util/deadline.js';
import { describe } from '../util/describe.js';
import { checkPayloadSize } from '../util/json-payload.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { timeOrderedId } from '../util/time-ordered-id.js';
import { OutageLog } from '../log/outage-log.js';
import { closeStore } from './close-store.js';
import { StoreUnavailable } from './errors.js';
import { Journal } from './journal.js';
import { tellObservers, type Observer } from '../log/observers.js';
import { safeLog, type SafeLog } from '../log/safe-log.js';
import { checkPayloadLimit, DEFAULT_PAYLOAD_LIMIT } from './payload-limit.js';
import { checkStore, definitionsByName, RUNNER_KEYS, runnerSettings, type RunnerOptions } from './runner-options.js';
import { observerThrew, Runner, systemClock, type AttemptRecord, type Clock } from './runner.js';
import type { ListFilter, NewTask, RequestSnapshot, StoredTask, StoreStats, TaskPage, TaskStore } from './store.js';
import { Task } from './task.js';
import type { DurableTracer } from './task-tracer.js';

export interface TasksOptions extends RunnerOptions {
  /** Every durable task the app registers or runs; names are unique. */
  definitions?: readonly Task<never>[];
  /** Where tasks are journaled. */
  store?: TaskStore;
  /**
   * The largest payload a task takes, in bytes of JSON (UTF-8); a larger one
   * is refused at registration, naming the task and its size. Default 1 MiB.
   */
  payloadLimit?: number;
  /**
   * Run tasks in this process (default true). False journals and releases
   * them here and leaves running them to `runWorker()` processes.
   */
  run?: boolean;
}

/** Counts of durable tasks by state, in all and per task name. */
export type TaskStats = StoreStats;

const KEYS = ['definitions', 'store', ...RUNNER_KEYS, 'payloadLimit', 'run'];

/**
 * `app.tasks`: the app's durable tasks. Registers them (from requests, with
 * `after(task, payload)` and `response.after(task, payload)`, or outside one
 * with `enqueue()`), runs them through its runner, and operates on the store.
 *
 * @example
 * ```ts
 * await app.tasks.enqueue(sendDigest, { day: '2026-11-23' });
 * const failed = await app.tasks.list({ state: 'failed' });
 * await app.tasks.retry(failed[0].id);
 * ```
 */
export class Tasks {
  readonly #definitions: Map<string, Task>;
  readonly #logger: Logger;
  /** Its own lines: one that throws stops neither opening the store nor a registration's refusal (see safeLog()). */
  readonly #log: SafeLog;
  readonly #run: boolean;
  readonly #payloadLimit: number;
  readonly #tracer: DurableTracer | undefined;
  #store: TaskStore | undefined;
  #clock: Clock = systemClock;
  #runner: Runner | undefined;
  #journal: Journal | undefined;
  #opened: Promise<void> | undefined;
  /** Whether this process serves the app (see runHere()): only then does it run tasks. */
  #servesHere = false;
  #closed: Promise<StoredTask[]> | undefined;
  /** `#closed` has resolved: the store may be opened anew (see reopen()). */
  #closeDone = false;
  /** Listeners to attempt ends, told by the runner once it starts. */
  readonly #observers = new Set<Observer<AttemptRecord>>();
  readonly #settings: Required<RunnerOptions>;

  constructor(options: TasksOptions, logger: Logger, tracer?: DurableTracer) {
    checkKeys('createApp() tasks', options, KEYS);
    this.#definitions = definitionsByName('createApp() tasks.definitions', options.definitions ?? []);
    const { store } = options;
    if (store !== undefined) checkStore('createApp() tasks.store', store);
    this.#store = store;
    this.#logger = logger;
    this.#log = safeLog(logger);
    this.#tracer = tracer;
    this.#run = checkBoolean('createApp() tasks.run', options.run ?? true);
    this.#payloadLimit = checkPayloadLimit('createApp() tasks.payloadLimit', options.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT);
    this.#settings = runnerSettings('createApp() tasks.', options);
  }

  /** @internal `tasks.payloadLimit`: a registration's payload is refused as soon as it is found larger. */
  get payloadLimit(): number {
    return this.#payloadLimit;
  }

  /** Whether the app has durable tasks at all. */
  get defined(): boolean {
    return this.#definitions.size > 0;
  }

  /**
   * Journals a task outside a request (Django's `.enqueue()`): durable once this resolves.
   *
   * @example
   * ```ts
   * const { id } = await app.tasks.enqueue(sendWelcome, { userId }, { delayMs: 60_000 });
   * ```
   */
  async enqueue<Payload>(task: Task<Payload>, payload: Payload, options?: Omit<TaskAfterOptions, 'when'>): Promise<TaskRegistration> {
    const entry = taskEntry('app.tasks.enqueue()', task as Task<unknown>, payload, options, this.#payloadLimit);
    if (entry.options.when !== undefined) throw new TypeError("app.tasks.enqueue(): 'when' applies to tasks registered in a request only");
    const result = await this.#add(this.#newTask(entry, null, false, this.#tracer?.inject(null) ?? null));
    this.#runner!.wake();
    return result;
  }

  /** @internal A durable task registered for a request: held until its response is done, or judged at once on the outcome when it is done already. */
  register(exchange: Exchange, entry: TaskEntry): Promise<TaskRegistration> {
    // Its response is done (judge `when` now), or shutdown gave its request up (no outcome: journal it, nothing lost).
    const { live, outcome } = exchange;
    if (!live && outcome !== undefined && !whenAllows(entry.options.when, outcome)) {
      this.#skipped('', entry, exchange.request.id);
      return Promise.resolve({ id: '', duplicate: false, skipped: true });
    }
    const snapshot = snapshotOf(exchange.request);
    const trace = this.#tracer?.inject(exchange.request) ?? null;
    if (!live) {
      return this.#add(this.#newTask(entry, snapshot, false, trace), exchange).then((result) => {
        this.#runner!.wake();
        return result;
      }, (error: unknown) => {
        // Nobody waits on this request's response any more: the log is the only place left to say so.
        this.#log.error({ err: error, task: entry.task.name, requestId: snapshot.id }, `durable task ${entry.task.name} registered after its response could not be journaled: not run`);
        throw error;
      });
    }
    const added = this.#add(this.#newTask(entry, snapshot, true, trace), exchange);
    const hold: Hold = {
      journaled: added,
      release: (outcome) => {
        added.then(({ id, duplicate }) => {
          if (duplicate) return;
          const run = whenAllows(entry.options.when, outcome);
          if (!run) this.#skipped(id, entry, snapshot.id);
          this.#journal!.release({ id, outcome, run, runAt: this.#clock.now() + (entry.options.delayMs ?? 0) });
        }, () => {});
      },
    };
    exchange.hold(hold);
    return added;
  }

  /** A task whose `when` did not match its outcome: removed unrun, and told (the test client, metrics and the dashboard count it). */
  #skipped(id: string, entry: TaskEntry, requestId: string): void {
    tellObservers(this.#observers, { id, name: entry.task.name, requestId, attempt: 0, state: 'skipped' }, this.#log, observerThrew);
  }

  #newTask(entry: TaskEntry, request: RequestSnapshot | null, held: boolean, trace: Record<string, string> | null): NewTask {
    const definition = this.#definition(entry.task);
    // Here, where every registration passes on its way to any store: refused before it is journaled, or parsed at each
    // attempt. Measured again only when it was not against this limit as it was serialized (a response's made outside any request).
    if (entry.limit > this.#payloadLimit) checkPayloadSize(definition.name, entry.payload, this.#payloadLimit);
    const { settings } = definition;
    return {
      id: timeOrderedId(this.#clock.now()),
      name: definition.name,
      payload: entry.payload,
      key: entry.options.key ?? null,
      when: entry.options.when ?? 'always',
      maxAttempts: settings.attempts,
      backoff: settings.backoff,
      timeoutMs: settings.timeoutMs,
      held,
      // A held task's too: its release sets the time from the response's end, but a recovery (its process died first) keeps this one.
      runAt: this.#clock.now() + (entry.options.delayMs ?? 0),
      request,
      trace,
    };
  }

  #definition(task: unknown): Task {
    const name = (task as { name?: unknown }).name;
    const definition = typeof name === 'string' ? this.#definitions.get(name) : undefined;
    if (definition === undefined || definition !== task) {
      throw new TypeError(`the task '${String(name)}' is not among this app's durable tasks: add it to createApp({ tasks: { definitions: [...] } })`);
    }
    return definition;
  }

  /** Journals `task` (with `request`'s other registrations of the turn): the store is opened for it, but running tasks waits for runHere(). */
  async #add(task: NewTask, request?: Exchange): Promise<TaskRegistration> {
    await this.#openStore();
    const { id, duplicate } = await this.#journal!.add(task, request);
    return { id, duplicate };
  }

  /**
   * @internal This process serves the app (`attach()`, a request through an
   * adapter or `app.fetch()`, a test client): the store is opened (a failure logged) and,
   * unless `run: false`, tasks run here. A script that only enqueues or
   * inspects (stats, list, get, retry, discard) runs none: it would leave
   * them half done when it exits.
   */
  runHere(): void {
    if (this.#servesHere) return;
    this.#servesHere = true;
    if (this.defined) this.#openUntilOpen(new OutageLog(this.#log, `opening the durable task store (${this.#store?.description ?? 'none set'})`));
  }

  /**
   * Opens the store for a process that serves the app, trying again every OPEN_RETRY_MS while it cannot (a Redis
   * started after the app, a locked file), until the app closes: its tasks run once it opens. Registrations
   * meanwhile get their 503, and each tries the store again too.
   */
  #openUntilOpen(outage: OutageLog): void {
    this.open().then(() => outage.succeeded(), (error: unknown) => {
      // A mistake in the app (no store set) is not tried again.
      if (!(error instanceof StoreUnavailable)) {
        this.#log.error({ err: error }, 'could not open the durable task store');
        return;
      }
      outage.failed(error);
      if (this.#closed === undefined) setTimeout(() => this.#openUntilOpen(outage), OPEN_RETRY_MS).unref();
    });
  }

  /** @internal As runHere(), for `serve()` and the Fastify plugin, which report a store that cannot open themselves; after close(), it opens anew (see reopen()). */
  open(): Promise<void> {
    this.reopen();
    this.#servesHere = true;
    if (this.#run) this.#runner?.claimTasks();
    return this.#openStore();
  }

  /**
   * Opens the store, with a runner that renews this process's holds and recovers dead processes' tasks; it claims
   * once runHere() says so. A failed open is not kept: the next call tries again (kept, a store unreachable when the
   * app first opened it refused every registration for good, however soon it came back). None after close().
   */
  #openStore(): Promise<void> {
    if (this.#opened === undefined && this.#closed !== undefined) {
      return Promise.reject(new StoreUnavailable(this.#store?.description ?? 'the durable task store', new Error(this.#closeDone ? 'the app has shut down' : 'the app is shutting down: await its close() before serving it again')));
    }
    return (this.#opened ??= this.#start().catch((error: unknown) => {
      this.#opened = undefined;
      throw error;
    }));
  }

  async #start(): Promise<void> {
    const store = this.#store;
    if (store === undefined) throw new TypeError('createApp() tasks.store is not set: durable tasks need a store, e.g. sqliteStore({ path: "var/tasks.db" })');
    await store.open();
    const runner = new Runner({
      store, definitions: this.#definitions, logger: this.#logger, clock: this.#clock, random: Math.random, tracer: this.#tracer, ...this.#settings,
      holds: () => this.#journal!.holds, observers: this.#observers,
    });
    this.#journal = new Journal(store, runner.owner, () => this.#clock.now() + this.#settings.leaseMs, (write) => runner.release(write), this.#logger, runner.outage);
    this.#runner = runner;
    // Until runHere(), the runner renews this process's holds and recovers dead ones' only.
    runner.start(this.#servesHere && this.#run);
  }

  /**
   * @internal The test client's: a store of its own and a clock that
   * `settle()` moves, before anything is opened, or once the client before
   * it closed them (an app made once, a client per test: each starts on a
   * fresh store). False when a store is open: a client still open shares it,
   * and its clock.
   */
  useForTests(store: TaskStore, clock: Clock): boolean {
    this.reopen();
    if (this.#opened !== undefined) return false;
    this.#store = store;
    this.#clock = clock;
    return true;
  }

  /** Counts by state (held, ready, delayed, running, completed, failed), in all and per task name. */
  async stats(): Promise<TaskStats> {
    await this.#openStore();
    return this.#store!.stats(this.#clock.now());
  }

  /** Tasks by state and name, newest first (default 100); `after`: from where a listPage() page ended. */
  async list(filter: ListFilter = {}): Promise<StoredTask[]> {
    return (await this.#page(filter, 'app.tasks.list()')).tasks;
  }

  /** As list(), and where the next page starts: its `next`, the next page's `after` (null: no more). */
  listPage(filter: ListFilter = {}): Promise<TaskPage> {
    return this.#page(filter, 'app.tasks.listPage()');
  }

  async #page(filter: ListFilter, what: string): Promise<TaskPage> {
    checkKeys(what, filter, ['state', 'name', 'limit', 'after']);
    await this.#openStore();
    return this.#store!.listPage(filter);
  }

  /** One task with its payload, attempts and errors; null when there is none. */
  async get(id: string): Promise<StoredTask | null> {
    checkId('app.tasks.get()', id);
    await this.#openStore();
    return this.#store!.get(id);
  }

  /** A failed task runs again, its attempts counted afresh. False when it is not failed. */
  async retry(id: string): Promise<boolean> {
    checkId('app.tasks.retry()', id);
    await this.#openStore();
    const retried = await this.#store!.retry(id, this.#clock.now());
    if (retried) this.#runner!.wake();
    return retried;
  }

  /** A task that is not running is removed. False when there is none, or it is running. */
  async discard(id: string): Promise<boolean> {
    checkId('app.tasks.discard()', id);
    await this.#openStore();
    return this.#store!.discard(id);
  }

  /**
   * @internal Calls `listener` with every attempt's end in this process, from
   * when the store is opened (observing does not open it: the test client may
   * still swap it).
   */
  observe(listener: (record: AttemptRecord) => void): () => void {
    this.#observers.add(listener);
    return () => {
      this.#observers.delete(listener);
    };
  }

  /** @internal The earliest `runAt` of this app's ready tasks (epoch ms; delayed ones included), or null; null before the store is opened. */
  async nextReadyAt(): Promise<number | null> {
    if (this.#opened === undefined) return null;
    await this.#opened;
    return this.#store!.nextRunAt([...this.#definitions.keys()]);
  }

  /** @internal */
  get [kDefinitions](): Task[] {
    return [...this.#definitions.values()];
  }

  /** @internal */
  get [kStore](): TaskStore | undefined {
    return this.#store;
  }

  /** @internal */
  get [kRunnerSettings](): Required<RunnerOptions> {
    return { ...this.#settings };
  }

  /** @internal */
  get [kTracer](): DurableTracer | undefined {
    return this.#tracer;
  }

  /** @internal What settle() waits for here, one line each (none when idle). */
  unfinished(): string[] {
    const lines = this.idle ? [] : ['durable tasks being journaled or run'];
    for (const { id, name, attempt, timeoutMs } of this.#runner?.blocking ?? []) {
      lines.push(`durable task ${name} attempt ${attempt} (${id}): past its timeout (${timeoutMs} ms) and still running (it ignores ctx.signal), it holds one of the slots that due tasks wait for`);
    }
    return lines;
  }

  /** @internal Nothing of this process's is being journaled or run. */
  get idle(): boolean {
    return this.#runner === undefined || (this.#runner.idle && this.#journal!.idle);
  }

  /**
   * @internal Waits until no task of this app is held by this process,
   * journaled, due or running; with `advance`, moves the test clock to each
   * delayed task's time (retries, `delayMs`) instead of waiting for it.
   */
  async settle(advance: (to: number) => boolean): Promise<void> {
    // Nothing to run: no task defined, or no store to run them from (a mistake enqueue() and serving name).
    if (this.#opened === undefined && (!this.defined || this.#store === undefined)) return;
    // Shut down, or shutting down: nothing more runs here once its close (which lets what runs finish, until its deadline) is done.
    if (this.#closed !== undefined) {
      await this.#closed;
      return;
    }
    // Not opened yet (settle() the process's first call), or its last try failed: opened once, a store that cannot open
    // rejecting naming why (not runHere()'s retries, which would keep a script that settles alive and run tasks later).
    await this.#openStore();
    // Settling runs what is due: in this process, which serves from now on.
    this.runHere();
    const runner = this.#runner!;
    const store = this.#store!;
    const names = [...this.#definitions.keys()];
    let previous: number | null = null;
    for (;;) {
      await runner.whenIdle();
      if (!this.#journal!.idle) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const next = await store.nextRunAt(names);
      if (next === null || !(next <= this.#clock.now() || advance(next))) return;
      if (next === previous && runner.running === 0) {
        // Every slot held by attempts past their timeout that ignore their signal: what is due waits for them, and so
        // does settle (the test client's timeout bounds it, naming them). Otherwise another process holds the name's slots.
        if (runner.blocking.length === 0) return;
        await runner.whenOverdueSettles();
        previous = null;
        continue;
      }
      previous = next;
      runner.wake();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** @internal Shutdown: the runner stops claiming and gives back what it cannot finish by `deadline`. */
  close(deadline: number): Promise<StoredTask[]> {
    return (this.#closed ??= this.#close(deadline).finally(() => (this.#closeDone = true)));
  }

  /**
   * @internal The app is served again after close() (a server put on it, a
   * test client made): once that close is done, the store is opened anew by
   * the next call, and tasks run here again with the next runHere(). While
   * it is under way, nothing changes (the store is still refused).
   */
  reopen(): void {
    if (!this.#closeDone) return;
    this.#opened = this.#closed = this.#runner = this.#journal = undefined;
    this.#servesHere = this.#closeDone = false;
  }

  async #close(deadline: number): Promise<StoredTask[]> {
    if (this.#opened === undefined) return [];
    try {
      await this.#opened;
    } catch {
      return [];
    }
    // The registrations and releases handed to the journal before close are written first (by the deadline): the store
    // closed under them, they were refused ("not open"), and a released hold was left to expire, its outcome unknown.
    const [left] = await Promise.all([this.#runner!.close(deadline), untilDeadline(this.#journal!.whenIdle(), deadline)]);
    await closeStore(this.#store!, deadline, this.#log);
    return left;
  }
}

/** A task id from plain JavaScript: anything but a string would reach the store as a binding error, or match nothing silently. */
function checkId(where: string, id: unknown): void {
  if (typeof id !== 'string') throw new TypeError(`${where} takes a task id (a string), got ${describe(id)}`);
}

/** What a durable task keeps of its request: what an audit log needs, no live object. */
function snapshotOf(request: HttpRequest): RequestSnapshot {
  const { id, method, path, route, ip, protocol, host } = request;
  const snapshot: RequestSnapshot = { id, method, path, protocol };
  if (route !== undefined) snapshot.route = route;
  const routeName = request[kRouteTarget]?.name;
  if (routeName !== undefined) snapshot.routeName = routeName;
  if (ip !== undefined) snapshot.ip = ip;
  if (host !== undefined) snapshot.host = host;
  return snapshot;
}

/** How often a process that serves the app tries again to open a store it could not open. */
const OPEN_RETRY_MS = 1000;
