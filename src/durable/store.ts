import type { Outcome } from '../http/outcome.js';
import type { When } from '../http/when.js';

/**
 * Where a durable task is in its life:
 * - `held`: journaled while its request is handled; waits for the response to be done (owned by one process, under a lease);
 * - `ready`: may run from `runAt` on (a future `runAt` is "delayed" in stats);
 * - `running`: claimed by one process, under a lease;
 * - `completed`, `failed`: ended (failed = every attempt used, or a `NonRetryableError`; kept until retried or discarded).
 */
export type TaskState = 'held' | 'ready' | 'running' | 'completed' | 'failed';

/** When a held task runs, judged on its response's recorded outcome (as after-response tasks). */
export type { When };

/** How long to wait before attempt n+1: `delayMs` each time (`fixed`) or `delayMs * 2^(n-1)` (`exponential`), capped, with jitter. */
export interface Backoff {
  type: 'fixed' | 'exponential';
  delayMs: number;
  /** The longest wait. Default one hour. */
  maxDelayMs?: number;
  /** A fraction (0 to 1) of each wait drawn at random, so that retries of many tasks spread out. Default 0.2. */
  jitter?: number;
}

/** What a task keeps of the request that caused it: live request objects cannot be journaled. */
export interface RequestSnapshot {
  id: string;
  method: string;
  path: string;
  /** The route's pattern, when it was routed. */
  route?: string;
  /** The route's name as `app.reverse()` takes it (`namespace:name` inside include() with a namespace), when it has one. */
  routeName?: string;
  /** The client's address (`request.ip`, trusted proxies considered), when known: for audit tasks. */
  ip?: string;
  /** `'http'` or `'https'`, as `request.protocol` says. */
  protocol?: string;
  /** The host asked for, as `request.host` says, when valid. */
  host?: string;
}

/** One attempt that failed, as kept on the task. */
export interface AttemptError {
  attempt: number;
  /** The error's name and message (`TimeoutError: task send-welcome timed out after 30000 ms`, `stalled: ...`). */
  message: string;
  stack?: string;
  /** Epoch milliseconds. */
  startedAt: number | null;
  finishedAt: number;
  /**
   * Set on the entry that stands for attempts whose errors were not kept
   * (attempt 0, after the first few: see kept-errors.ts): how many.
   */
  omitted?: number;
}

/** A task as the store keeps it. Times are epoch milliseconds (the store's clock). */
export interface StoredTask {
  id: string;
  name: string;
  /** The payload's JSON text, as journaled. */
  payload: string;
  state: TaskState;
  key: string | null;
  when: When;
  /** Attempts started so far (the running one included). */
  attempt: number;
  maxAttempts: number;
  backoff: Backoff;
  timeoutMs: number;
  runAt: number;
  /** The process that holds or runs it, while it does. */
  owner: string | null;
  /** Until when that process's hold or claim lasts, unless renewed. */
  leaseUntil: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  request: RequestSnapshot | null;
  /** The response's outcome once recorded; null when the task was enqueued outside a request or its process died first. */
  outcome: Outcome | null;
  /** Trace context (W3C traceparent and friends) carried to whichever process runs it. */
  trace: Record<string, string> | null;
  errors: AttemptError[];
}

/** A task to journal. */
export interface NewTask {
  id: string;
  name: string;
  payload: string;
  key: string | null;
  when: When;
  maxAttempts: number;
  backoff: Backoff;
  timeoutMs: number;
  /** Held (in a request, until its response is done) or ready at `runAt`. */
  held: boolean;
  /**
   * When it may run. A held task's release sets its time anew; until then
   * this is the earliest a recovery lets it run (its registration's
   * `delayMs` kept, should its process die before the release).
   */
  runAt: number;
  request: RequestSnapshot | null;
  trace: Record<string, string> | null;
}

/** What `add()` did with each task, in order. */
export interface AddResult {
  /** The task's id: its own, or the pending task's that has the same key. */
  id: string;
  /** A pending task that keeps its key (ready, running, or held with `when` 'always': see keepsKey()) already had this key: nothing was added. */
  duplicate: boolean;
}

/** A held task's response is done. */
export interface Release {
  id: string;
  /** The recorded outcome. Its `error`, if any, is kept as text (`TypeError: message`): an Error's own JSON is `{}`. */
  outcome: Outcome;
  /** Whether `when` lets it run: if not, the task is removed (skipped). */
  run: boolean;
  /** When it may run (its `delayMs` after the response). */
  runAt: number;
}

/** What `claim()` is asked: ready tasks for `owner`, within `limit` and each name's `concurrency`. */
export interface ClaimRequest {
  owner: string;
  /** The task names the owner runs. */
  names: readonly string[];
  /** Per-name caps on running tasks, counted across every process; a name not listed has none. */
  concurrency: Readonly<Record<string, number>>;
  /** At most this many (0 claims nothing). */
  limit: number;
  now: number;
  leaseUntil: number;
  /** Only these tasks. */
  ids?: readonly string[];
}

/**
 * The claim a release may carry (the web process running the tasks it
 * releases): the owner is the release's, the tasks the released ones.
 */
export type ReleaseClaim = Omit<ClaimRequest, 'owner' | 'ids'>;

/** What `release()` did with the tasks it released to run; a skipped task is in neither list. */
export interface Released {
  /** Ids of tasks now ready (due later, or past what the claim took): `claim()` takes them as any other. */
  ready: string[];
  /** Tasks the release's claim took: running for the owner, as `claim()` returns them, in the order of the releases. */
  claimed: StoredTask[];
  /**
   * Ids of held tasks to run that the store no longer had at all (a Redis
   * restarted without its data): they will not run. Absent when none.
   */
  lost?: string[];
}

/** What `completeAndClaim()` did: the ids it completed (as `complete()` resolves with), and the tasks it claimed. */
export interface CompletedAndClaimed {
  completed: string[];
  claimed: StoredTask[];
}

/** Counts of tasks by state, in all and per task name: `ready` counts ready tasks whose time has come, `delayed` those whose time has not. */
export interface StoreStats {
  held: number;
  ready: number;
  delayed: number;
  running: number;
  completed: number;
  failed: number;
  byName: Record<string, Omit<StoreStats, 'byName'>>;
}

export interface ListFilter {
  state?: TaskState;
  name?: string;
  /** At most this many, newest first. Default 100. */
  limit?: number;
  /** Where the page before ended (its `next`: see listPage()): the tasks listed after it. Only a cursor of the same store. */
  after?: string;
}

/** A page of a listing: at most the filter's limit of tasks, and where the next page starts. */
export interface TaskPage {
  tasks: StoredTask[];
  /**
   * The `after` of the next page, or null when no task is listed after this
   * page. A cursor is a place in the order, not a task: a task of the page
   * retried or discarded meanwhile does not lose it. A page may hold fewer
   * tasks than the limit (a task that left the state listed while it was
   * read) and still have a next one.
   */
  next: string | null;
}

/** What `recover()` did: how many held and running tasks of dead processes it recovered, and those it could not read. */
export interface Recovered {
  held: number;
  running: number;
  /**
   * Tasks with a column the store could not read (edited by hand into invalid JSON, or JSON of another shape), failed for good, not retried, by
   * this recovery or by a claim since the last one (a claim returns the others); absent when none.
   */
  unreadable?: { id: string; reason: string }[];
}

/**
 * A durable task store: one state machine, atomic per call, shared by any
 * number of processes. Policy (when to retry, what `when` says) is the
 * runner's; the store keeps tasks and moves them between states, never
 * losing one. `now` is always passed in, so that tests can drive the clock.
 * Every store passes the same conformance suite (test/durable/conformance.ts).
 * A call the store cannot carry out now (a read-only or locked file, a full
 * disk, a closed store) rejects with `StoreUnavailable` and changes nothing.
 */
export interface TaskStore {
  /** Names the store in logs and errors ("sqlite store var/tasks.db"). */
  readonly description: string;
  /** Opens (and creates, or migrates) the store. Called once before use. */
  open(): Promise<void>;
  /**
   * Journals tasks, all or none: a held task is owned by `owner` until
   * `leaseUntil`; a task whose key a pending task keeps (or an earlier task
   * of the same batch: see keepsKey()) is not added. A batch with a bad task (a field of the
   * wrong type or range, an id already stored) is refused whole, with an
   * error that names the task.
   */
  add(tasks: readonly NewTask[], owner: string, leaseUntil: number): Promise<AddResult[]>;
  /**
   * Ends holds, all or none: each task still held by `owner` is removed (not
   * `run`) or released to run, with its outcome, at its `runAt`. With `claim`,
   * the released tasks due by `claim.now` are claimed at once for `owner`, as
   * `claim({ owner, ...claim, ids })` would claim them (`attempt` counted,
   * `startedAt`, lease, per-name `concurrency` across every process), up to
   * `claim.limit`, in the order of the releases: held to running in the
   * release's own write, with no ready state between (the web process
   * running its own tasks). What the claim does not take is ready, as
   * without it. A hold that kept no key (keepsKey()) released to run while
   * another pending task keeps its key is removed (that task's run covers
   * it), and is in no list of the result.
   */
  release(releases: readonly Release[], owner: string, claim?: ReleaseClaim): Promise<Released>;
  /**
   * Claims up to `limit` ready tasks whose time has come (`runAt <= now`),
   * oldest `runAt` first, among `names`, for `owner` until `leaseUntil`;
   * `ids` narrows the claim to those tasks. A name's running tasks (across
   * every process) never exceed its entry in `concurrency`. Each claimed task's
   * `attempt` grows by one.
   */
  claim(request: ClaimRequest): Promise<StoredTask[]>;
  /**
   * Renews the holds and claims of `owner` among `ids` until `leaseUntil`.
   * Only those the process still keeps: one it let go of (a completion the
   * store refused) runs out and is recovered, rather than being renewed for
   * as long as the process lives.
   */
  heartbeat(owner: string, leaseUntil: number, ids: readonly string[]): Promise<void>;
  /**
   * Running tasks of `owner` completed, all at once. A task no longer owned (its lease was lost) is left alone.
   * Resolves with the ids completed: what the store accepted is all that ran to completion as far as it knows.
   */
  complete(ids: readonly string[], owner: string, now: number): Promise<string[]>;
  /**
   * Optional: `complete()`, and in the same call a claim for `owner`, as
   * `claim({ owner, ...claim })` would claim (the room the completions made,
   * taken without a call of its own: BullMQ fetches the next job in the
   * script that completes one). Rejects, claiming nothing, when the claim
   * fails; the completions may have been written (writing them again with
   * `complete()` changes nothing). A store without it is completed, then
   * claimed.
   */
  completeAndClaim?(ids: readonly string[], owner: string, now: number, claim: ReleaseClaim): Promise<CompletedAndClaimed>;
  /**
   * A running task of `owner` failed this attempt: kept with its error, ready again at `retryAt`, or failed for good
   * when `retryAt` is null. Resolves with false when the task was no longer `owner`'s, and nothing was written.
   */
  fail(id: string, owner: string, error: AttemptError, retryAt: number | null): Promise<boolean>;
  /**
   * Optional: why the end (a completion or failure) of `id` that `complete()` or `fail()` just refused was not
   * recorded, when the store can tell better than a lost lease; undefined otherwise. The BullMQ store says that the
   * task's job is gone from Redis (flushed, or restarted without its data). Each reason is told once.
   */
  whyRefused?(id: string): string | undefined;
  /**
   * Optional: what `open()` found that puts tasks at risk without failing the open (the BullMQ store: a Redis whose
   * `maxmemory-policy` may evict their keys). Each process that runs the store logs each at warn, once, when it starts.
   */
  warnings?(): readonly string[];
  /** Shutdown: running tasks of `owner` go back to ready, their attempt not counted. */
  giveBack(ids: readonly string[], owner: string): Promise<void>;
  /**
   * Tasks of a dead process (`leaseUntil < now`): held ones become ready at
   * their `runAt` as added, or `now` if that is later (their outcome
   * unknown, null: they run whatever their `when`; one that kept no key is
   * removed, as a release to run would remove it);
   * running ones count the attempt as failed, with an error whose message
   * starts with "stalled:", and are ready at `now + retryDelay(backoff,
   * attempt, random)` if attempts remain, else failed. Returns how many of
   * each were recovered; a running one whose row cannot be read (a column
   * that should hold JSON does not) is failed for good, named in
   * `unreadable` (not counted in `running`), and the others are recovered all the same.
   * `leaseUntil`: the recovering process's lease; a store whose recovery of a
   * task takes several steps (BullMQ: its lock taken, then the stall failed)
   * keeps the task the recoverer's until then, should it die midway.
   */
  recover(now: number, random: () => number, leaseUntil?: number): Promise<Recovered>;
  /** The earliest `runAt` of a ready task among `names`, or null when there is none. */
  nextRunAt(names: readonly string[]): Promise<number | null>;
  /** Names of ready tasks that are not among `names` (no process here knows them). */
  unknownNames(names: readonly string[]): Promise<string[]>;
  stats(now: number): Promise<StoreStats>;
  /** Tasks by state and name, newest first (the order they were added in, the last first), at most `limit`: listPage()'s tasks. */
  list(filter: ListFilter): Promise<StoredTask[]>;
  /**
   * A page of list(), and where the next one starts: a listing of every
   * failed task (`coda tasks retry --all-failed`) goes a page at a time,
   * and a page reads no task whole beyond its own.
   */
  listPage(filter: ListFilter): Promise<TaskPage>;
  get(id: string): Promise<StoredTask | null>;
  /**
   * A failed task runs again: ready now, its attempts counted afresh (its
   * errors kept). False when it is not failed, or when another pending task
   * keeps its key (two pending tasks sure to run never share a key).
   */
  retry(id: string, now: number): Promise<boolean>;
  /**
   * The id of the pending task that keeps `key` (see keepsKey()) among the
   * tasks named `name`, or null: what stands in the way of a retry (a key is
   * unique across names on some stores, per name on others).
   */
  keyHolder(name: string, key: string): Promise<string | null>;
  /** A task that is not running is removed. False when there is none, or it is running. */
  discard(id: string): Promise<boolean>;
  /** Removes completed tasks that finished before `before`; returns how many. */
  prune(before: number): Promise<number>;
  /**
   * Closes the store; closing it again does nothing. By `deadline` (a
   * `performance.now()` time), if given: what the store could not finish by
   * then is given up, and the StoreUnavailable it rejects with says what.
   */
  close(deadline?: number): Promise<void>;
}
