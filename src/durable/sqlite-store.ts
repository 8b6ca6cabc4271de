import { setImmediate } from 'node:timers/promises';
import { kOpenToInspect, kStorePath } from '../symbols.js';
import { describe } from '../util/describe.js';
import { checkKeys, checkMs } from '../util/options.js';
import { checkAttemptError, checkClaim, checkListFilter, checkNewTasks, checkOwner, checkReleaseClaim, checkReleases, checkTime } from './checks.js';
import { insertTasks } from './sqlite-adding.js';
import { claimDue } from './sqlite-claiming.js';
import { SqliteConnection, type SqliteSettings } from './sqlite-connection.js';
import { countStats, firstRunAt, namesFrom, pageOf, taskById } from './sqlite-listing.js';
import { recoverLapsed, type Unreadable } from './sqlite-recovery.js';
import { MAX_HELD, releaseHeld, type HeldTask } from './sqlite-release.js';
import { changed } from './sqlite-statements.js';
import type {
  AddResult, AttemptError, ClaimRequest, ListFilter, NewTask, Recovered, Release, Released, ReleaseClaim, StoredTask, StoreStats, TaskPage, TaskStore,
} from './store.js';

export interface SqliteStoreOptions {
  /** The database file, created if absent (its directory must exist); `':memory:'` for a store that lives and dies with the process (tests). */
  path: string;
  /**
   * How hard each commit waits for the disk. `NORMAL` (the default): in WAL
   * mode a commit survives a crash of the process (`kill -9` included), and
   * the last commits may be lost on a power cut or kernel panic; no fsync per
   * commit. `FULL`: every commit also survives a power cut, at the cost of an
   * fsync per commit (on the order of a millisecond on an SSD, far more on a
   * disk or a network volume).
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a call waits for another process's write lock before it fails with `StoreUnavailable`. Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * A durable task store in one SQLite file, on Node's built-in `node:sqlite`
 * (no native dependency, no server). Several processes on one machine may
 * share the file: every write is one `BEGIN IMMEDIATE` transaction, so a
 * claim never gives one task to two processes.
 *
 * @example
 * ```ts
 * const store = sqliteStore({ path: 'var/tasks.db' });
 * await store.open();
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): TaskStore {
  return new SqliteStore(options);
}

/** Completed tasks a prune removes per transaction: a few milliseconds' work. */
const PRUNE_BATCH = 1000;
const SYNCHRONOUS = ['NORMAL', 'FULL'];

export class SqliteStore implements TaskStore {
  readonly description: string;
  readonly #path: string;
  /** The store's connection to its file: opening, transactions, the file checks (see SqliteConnection). */
  readonly #connection: SqliteConnection;
  /**
   * The held tasks this store added and has not yet seen released, as added:
   * a release that claims them builds each running task from here rather
   * than reading its row back. Only ever a shortcut: a task missing from it
   * (a release written again after a failed try) is released to ready, and
   * claimed as any other.
   */
  readonly #held = new Map<string, HeldTask>();
  /** Tasks a claim failed for good, a row of theirs unreadable: the next recover() reports them (its `unreadable`), to be logged. */
  readonly #unreadable: Unreadable[] = [];

  constructor(options: SqliteStoreOptions) {
    checkKeys('sqliteStore()', options, ['path', 'synchronous', 'busyTimeoutMs']);
    const { path, synchronous = 'NORMAL', busyTimeoutMs = 5000 } = options;
    if (typeof path !== 'string' || path === '') {
      throw new TypeError(`sqliteStore(): path must be a file path or ':memory:', got ${describe(path)}`);
    }
    if (!SYNCHRONOUS.includes(synchronous)) {
      throw new TypeError(`sqliteStore(): synchronous must be 'NORMAL' or 'FULL', got ${describe(synchronous)}`);
    }
    this.#path = path;
    this.description = `sqlite store ${path}`;
    this.#connection = new SqliteConnection(path, synchronous, checkMs('sqliteStore(): busyTimeoutMs', busyTimeoutMs, { zero: true }), this.description);
  }

  async open(): Promise<void> {
    return this.#connection.open();
  }

  /**
   * @internal Opens the store for `coda tasks`, which writes no schema: a file that is not a store of this version yet
   * (an empty database, an older store) is refused rather than made one or migrated.
   */
  [kOpenToInspect](): Promise<void> {
    return this.#connection.openToInspect();
  }

  /** @internal The file (or `':memory:'`): `coda tasks` and `coda worker` check that other processes can share it. */
  get [kStorePath](): string {
    return this.#path;
  }

  /** The settings in force on this store's connection, as SQLite reports them. */
  settings(): SqliteSettings {
    return this.#connection.settings();
  }

  async add(tasks: readonly NewTask[], owner: string, leaseUntil: number): Promise<AddResult[]> {
    checkNewTasks(tasks);
    checkOwner('add()', owner);
    checkTime('add(): leaseUntil', leaseUntil);
    if (tasks.length === 0) return [];
    const createdAt = Date.now();
    const results = await this.#connection.write((s) => insertTasks(s, tasks, owner, leaseUntil, createdAt, this.description), true);
    // Known once committed; the bound keeps a process whose releases never come (a store shared by tests) from growing it.
    if (this.#held.size + tasks.length > MAX_HELD) this.#held.clear();
    results.forEach(({ duplicate }, i) => {
      const task = tasks[i]!;
      if (task.held && !duplicate) this.#held.set(task.id, { task, owner, createdAt });
    });
    return results;
  }

  async release(releases: readonly Release[], owner: string, claim?: ReleaseClaim): Promise<Released> {
    checkReleases(releases);
    checkReleaseClaim(claim);
    if (releases.length === 0) return { ready: [], claimed: [] };
    const held: (HeldTask | undefined)[] = [];
    for (const { id } of releases) {
      held.push(this.#held.get(id));
      this.#held.delete(id);
    }
    return this.#connection.write((s) => releaseHeld(s, releases, held, owner, claim));
  }

  async claim(request: ClaimRequest): Promise<StoredTask[]> {
    const { owner, names, concurrency, limit, now, leaseUntil, ids } = request;
    checkOwner('claim()', owner);
    checkTime('claim(): now', now);
    checkTime('claim(): leaseUntil', leaseUntil);
    checkClaim(limit, concurrency);
    if (limit === 0 || names.length === 0 || ids?.length === 0) return [];
    const unreadable: Unreadable[] = [];
    const tasks = await this.#connection.write((s) => {
      unreadable.length = 0;
      return claimDue(s, request, unreadable, this.description);
    });
    this.#unreadable.push(...unreadable);
    return tasks;
  }

  async heartbeat(owner: string, leaseUntil: number, ids: readonly string[]): Promise<void> {
    checkTime('heartbeat(): leaseUntil', leaseUntil);
    if (ids.length === 0) return;
    await this.#connection.write((s) => s.heartbeat.run(leaseUntil, JSON.stringify(ids), owner));
  }

  async complete(ids: readonly string[], owner: string, now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.#connection.write((s) => (s.complete.all(now, JSON.stringify(ids), owner) as { id: string }[]).map(({ id }) => id));
  }

  async fail(id: string, owner: string, error: AttemptError, retryAt: number | null): Promise<boolean> {
    checkAttemptError(error);
    if (retryAt !== null) checkTime('fail(): retryAt', retryAt);
    return this.#connection.write((s) => s.fail.run(JSON.stringify(error), retryAt, error.finishedAt, id, owner).changes > 0);
  }

  async giveBack(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return;
    await this.#connection.write((s) => s.giveBack.run(JSON.stringify(ids), owner));
  }

  async recover(now: number, random: () => number): Promise<Recovered> {
    checkTime('recover(): now', now);
    let reported = 0;
    const recovered = await this.#connection.write((s) => {
      // Those a claim failed for good since the last recovery (let go of once this one is committed), then this one's.
      reported = this.#unreadable.length;
      return recoverLapsed(s, now, random, this.#unreadable.slice(0, reported), this.description);
    });
    this.#unreadable.splice(0, reported);
    return recovered;
  }

  async nextRunAt(names: readonly string[]): Promise<number | null> {
    return this.#connection.read((s) => firstRunAt(s, names));
  }

  async unknownNames(names: readonly string[]): Promise<string[]> {
    const known = new Set(names);
    return this.#connection.read((s) => namesFrom(s.readyNameAfter).filter((name) => !known.has(name)));
  }

  async stats(now: number): Promise<StoreStats> {
    checkTime('stats(): now', now);
    return this.#connection.read((s) => countStats(s, now));
  }

  async list(filter: ListFilter): Promise<StoredTask[]> {
    return (await this.listPage(filter)).tasks;
  }

  /** A page ends at its last task's seq (the order added): the next lists those added before it. */
  async listPage(filter: ListFilter): Promise<TaskPage> {
    const checked = checkListFilter(filter);
    const { after } = checked;
    if (after !== undefined && !/^[1-9]\d{0,15}$/.test(after)) throw new TypeError(`list(): after ${JSON.stringify(after)} is not a cursor this store gave (a page's next)`);
    return this.#connection.read((s) => pageOf(s, checked, this.description));
  }

  async get(id: string): Promise<StoredTask | null> {
    return this.#connection.read((s) => taskById(s, id, this.description));
  }

  async retry(id: string, now: number): Promise<boolean> {
    checkTime('retry(): now', now);
    return this.#connection.write((s) => changed(s.retry.run(now, id)));
  }

  async keyHolder(_name: string, key: string): Promise<string | null> {
    // A key is unique across names here.
    return this.#connection.read((s) => (s.keyHolder.get(key)?.id as string | undefined) ?? null);
  }

  async discard(id: string): Promise<boolean> {
    return this.#connection.write((s) => changed(s.discard.run(id)));
  }

  /**
   * Removes completed tasks PRUNE_BATCH at a time, each batch a transaction of its own, this process's other work
   * and other processes' writes let in between: one transaction for them all held the file's write lock and this
   * process's event loop for as long as it took (about 1.5 µs a task: 300 ms for a backlog of 200,000, past other
   * processes' busy timeout for a few million).
   */
  async prune(before: number): Promise<number> {
    checkTime('prune(): before', before);
    let pruned = 0;
    for (const name of await this.#connection.read((s) => namesFrom(s.completedNameAfter))) {
      for (;;) {
        const removed = await this.#connection.write((s) => Number(s.prune.run(name, before, PRUNE_BATCH).changes));
        pruned += removed;
        if (removed < PRUNE_BATCH) break;
        await setImmediate();
        // Closed meanwhile (the process shutting down): the rest waits for the next prune.
        if (!this.#connection.isOpen) return pruned;
      }
    }
    return pruned;
  }

  async close(): Promise<void> {
    this.#held.clear();
    this.#connection.close();
  }
}
