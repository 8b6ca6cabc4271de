import { statSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import { kOpenToInspect, kStorePath } from '../symbols.js';
import { describe } from '../util/describe.js';
import { checkKeys, checkMs } from '../util/options.js';
import { checkAttemptError, checkClaim, checkListFilter, checkNewTasks, checkOwner, checkReleaseClaim, checkReleases, checkTime } from './checks.js';
import { StoreUnavailable } from './errors.js';
import { insertTasks } from './sqlite-adding.js';
import { claimDue } from './sqlite-claiming.js';
import { failureText, isBusy, isCantOpen, isOutOfRoom, isUnavailable } from './sqlite-failure.js';
import { cannotOpen, fileIdentity, sqlString } from './sqlite-file.js';
import { countStats, firstRunAt, namesFrom, pageOf, taskById } from './sqlite-listing.js';
import { recoverLapsed, type Unreadable } from './sqlite-recovery.js';
import { MAX_HELD, releaseHeld, type HeldTask } from './sqlite-release.js';
import { checkInspectable, ensureSchema, schemaVersion } from './sqlite-schema.js';
import { changed, prepareStatements, type Statements } from './sqlite-statements.js';
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
/** The longest wait between two tries of a call another process's lock refuses (SQLite's own handler waits up to 100 ms). */
const MAX_LOCK_POLL_MS = 25;
/**
 * The size the WAL file is cut back to once its commits are in the file: it kept its largest size on disk for good (a
 * reader's snapshot stopping checkpoints, a transaction of a request's 100,000 tasks). Twice what a WAL holds between
 * SQLite's checkpoints (1,000 pages): a WAL in steady use is never cut.
 */
const WAL_SIZE_LIMIT = 8 * 1024 * 1024;
const SYNCHRONOUS = ['NORMAL', 'FULL'];
/** `PRAGMA synchronous` answers with a number. */
const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

export class SqliteStore implements TaskStore {
  readonly description: string;
  readonly #path: string;
  readonly #synchronous: 'NORMAL' | 'FULL';
  readonly #busyTimeoutMs: number;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;
  /** The file the connection has open (undefined for `:memory:`): every write checks that the path still names it (see #checkFiles). */
  #file: string | undefined;
  /** The WAL file the connection writes (undefined for `:memory:`): every write checks that it is still there (see #checkFiles). */
  #wal: string | undefined;
  /** The WAL's shared-memory file the connection maps (undefined for `:memory:`): every write checks it too (see #checkShm). */
  #shm: string | undefined;
  /** A reconnection (#reconnect) failed: the next call connects again. */
  #lost = false;
  /** Opened to inspect (kOpenToInspect): no schema is written. */
  #inspect = false;
  #Database: typeof DatabaseSync | undefined;
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
    this.#synchronous = synchronous;
    this.#busyTimeoutMs = checkMs('sqliteStore(): busyTimeoutMs', busyTimeoutMs, { zero: true });
    this.description = `sqlite store ${path}`;
  }

  async open(): Promise<void> {
    if (this.#db !== undefined) return;
    // Loaded when a store opens: apps without durable tasks never load node:sqlite (Node 22 warns that it is experimental).
    this.#Database ??= (await import('node:sqlite')).DatabaseSync;
    // Processes opening one file at once (a cluster's workers starting) race for WAL mode and the schema: opening is
    // tried again while another holds the lock, until the busy timeout.
    const Database = this.#Database;
    await this.#whenFree(() => this.#connect(Database));
  }

  #connect(Database: typeof DatabaseSync): void {
    let db: DatabaseSync | undefined;
    try {
      db = new Database(this.#path, { enableForeignKeyConstraints: false });
      // No wait inside SQLite's calls, which would block the event loop: a lock another process holds is waited for by
      // timers (the open's loop above, #whenFree's), up to busyTimeoutMs.
      db.exec('PRAGMA busy_timeout = 0');
      // Another program's file is refused before anything is written to it, WAL mode included.
      if (this.#inspect) checkInspectable(db, this.description);
      else schemaVersion(db, this.description);
      if (this.#path !== ':memory:') db.exec(`PRAGMA journal_mode = WAL; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.exec(`PRAGMA synchronous = ${this.#synchronous}`);
      ensureSchema(db, this.description);
      this.#statements = prepareStatements(db);
      this.#db = db;
      this.#file = this.#path === ':memory:' ? undefined : fileIdentity(this.#path);
      this.#wal = this.#file === undefined ? undefined : fileIdentity(`${this.#path}-wal`);
      this.#shm = this.#file === undefined ? undefined : fileIdentity(`${this.#path}-shm`);
    } catch (error) {
      db?.close();
      const why = isCantOpen(error) && this.#path !== ':memory:' ? cannotOpen(this.#path) : undefined;
      if (why !== undefined) throw new StoreUnavailable(this.description, new Error(`cannot open ${this.#path}: ${why}`, { cause: error }));
      throw this.#failure(error);
    }
  }

  /**
   * @internal Opens the store for `coda tasks`, which writes no schema: a file that is not a store of this version yet
   * (an empty database, an older store) is refused rather than made one or migrated.
   */
  [kOpenToInspect](): Promise<void> {
    this.#inspect = true;
    return this.open();
  }

  /** @internal The file (or `':memory:'`): `coda tasks` and `coda worker` check that other processes can share it. */
  get [kStorePath](): string {
    return this.#path;
  }

  /** The settings in force on this store's connection, as SQLite reports them. */
  settings(): { journalMode: string; synchronous: string; busyTimeoutMs: number; foreignKeys: boolean; schemaVersion: number } {
    return this.#readNow(() => {
      const pragma = (name: string): unknown => Object.values(this.#db!.prepare(`PRAGMA ${name}`).get()!)[0];
      return {
        journalMode: String(pragma('journal_mode')),
        synchronous: SYNCHRONOUS_NAMES[Number(pragma('synchronous'))]!,
        // The store's own wait for a lock (SQLite's is 0: see #connect).
        busyTimeoutMs: this.#busyTimeoutMs,
        foreignKeys: pragma('foreign_keys') === 1,
        schemaVersion: Number(pragma('user_version')),
      };
    });
  }

  async add(tasks: readonly NewTask[], owner: string, leaseUntil: number): Promise<AddResult[]> {
    checkNewTasks(tasks);
    checkOwner('add()', owner);
    checkTime('add(): leaseUntil', leaseUntil);
    if (tasks.length === 0) return [];
    const createdAt = Date.now();
    const results = await this.#write((s) => insertTasks(s, tasks, owner, leaseUntil, createdAt, this.description), true);
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
    return this.#write((s) => releaseHeld(s, releases, held, owner, claim));
  }

  async claim(request: ClaimRequest): Promise<StoredTask[]> {
    const { owner, names, concurrency, limit, now, leaseUntil, ids } = request;
    checkOwner('claim()', owner);
    checkTime('claim(): now', now);
    checkTime('claim(): leaseUntil', leaseUntil);
    checkClaim(limit, concurrency);
    if (limit === 0 || names.length === 0 || ids?.length === 0) return [];
    const unreadable: Unreadable[] = [];
    const tasks = await this.#write((s) => {
      unreadable.length = 0;
      return claimDue(s, request, unreadable, this.description);
    });
    this.#unreadable.push(...unreadable);
    return tasks;
  }

  async heartbeat(owner: string, leaseUntil: number, ids: readonly string[]): Promise<void> {
    checkTime('heartbeat(): leaseUntil', leaseUntil);
    if (ids.length === 0) return;
    await this.#write((s) => s.heartbeat.run(leaseUntil, JSON.stringify(ids), owner));
  }

  async complete(ids: readonly string[], owner: string, now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.#write((s) => (s.complete.all(now, JSON.stringify(ids), owner) as { id: string }[]).map(({ id }) => id));
  }

  async fail(id: string, owner: string, error: AttemptError, retryAt: number | null): Promise<boolean> {
    checkAttemptError(error);
    if (retryAt !== null) checkTime('fail(): retryAt', retryAt);
    return this.#write((s) => s.fail.run(JSON.stringify(error), retryAt, error.finishedAt, id, owner).changes > 0);
  }

  async giveBack(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return;
    await this.#write((s) => s.giveBack.run(JSON.stringify(ids), owner));
  }

  async recover(now: number, random: () => number): Promise<Recovered> {
    checkTime('recover(): now', now);
    let reported = 0;
    const recovered = await this.#write((s) => {
      // Those a claim failed for good since the last recovery (let go of once this one is committed), then this one's.
      reported = this.#unreadable.length;
      return recoverLapsed(s, now, random, this.#unreadable.slice(0, reported), this.description);
    });
    this.#unreadable.splice(0, reported);
    return recovered;
  }

  async nextRunAt(names: readonly string[]): Promise<number | null> {
    return this.#read((s) => firstRunAt(s, names));
  }

  async unknownNames(names: readonly string[]): Promise<string[]> {
    const known = new Set(names);
    return this.#read((s) => namesFrom(s.readyNameAfter).filter((name) => !known.has(name)));
  }

  async stats(now: number): Promise<StoreStats> {
    checkTime('stats(): now', now);
    return this.#read((s) => countStats(s, now));
  }

  async list(filter: ListFilter): Promise<StoredTask[]> {
    return (await this.listPage(filter)).tasks;
  }

  /** A page ends at its last task's seq (the order added): the next lists those added before it. */
  async listPage(filter: ListFilter): Promise<TaskPage> {
    const checked = checkListFilter(filter);
    const { after } = checked;
    if (after !== undefined && !/^[1-9]\d{0,15}$/.test(after)) throw new TypeError(`list(): after ${JSON.stringify(after)} is not a cursor this store gave (a page's next)`);
    return this.#read((s) => pageOf(s, checked, this.description));
  }

  async get(id: string): Promise<StoredTask | null> {
    return this.#read((s) => taskById(s, id, this.description));
  }

  async retry(id: string, now: number): Promise<boolean> {
    checkTime('retry(): now', now);
    return this.#write((s) => changed(s.retry.run(now, id)));
  }

  async keyHolder(_name: string, key: string): Promise<string | null> {
    // A key is unique across names here.
    return this.#read((s) => (s.keyHolder.get(key)?.id as string | undefined) ?? null);
  }

  async discard(id: string): Promise<boolean> {
    return this.#write((s) => changed(s.discard.run(id)));
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
    for (const name of await this.#read((s) => namesFrom(s.completedNameAfter))) {
      for (;;) {
        const removed = await this.#write((s) => Number(s.prune.run(name, before, PRUNE_BATCH).changes));
        pruned += removed;
        if (removed < PRUNE_BATCH) break;
        await setImmediate();
        // Closed meanwhile (the process shutting down): the rest waits for the next prune.
        if (this.#statements === undefined) return pruned;
      }
    }
    return pruned;
  }

  async close(): Promise<void> {
    this.#lost = false;
    const db = this.#db;
    this.#db = undefined;
    this.#statements = undefined;
    this.#held.clear();
    db?.close();
  }

  /**
   * The file and its WAL, looked at once (a stat each) before every write: a write into a file or a WAL no other
   * process sees is lost. The file removed: a registration copies it back first (#copyBack), other writes go on (a
   * registration comes soon enough, and their tasks are in the connection's copy); replaced: every write is refused
   * (#refuseReplaced); the WAL removed: #checkWal.
   */
  #checkFiles(copyBack: boolean): void {
    // Not connected (a reconnection to try again): #opened's to do.
    if (this.#file === undefined || this.#db === undefined) return;
    const now = fileIdentity(this.#path);
    if (now === undefined) {
      if (copyBack) this.#copyBack(this.#db);
      return;
    }
    if (now !== this.#file) this.#refuseReplaced(this.#db);
    this.#checkWal(this.#db);
    // After the WAL's check, whose reconnection (if any) maps the shared memory anew.
    if (this.#db !== undefined) this.#checkShm(this.#db);
  }

  /**
   * A file removed under an open connection (its folder deleted, say) still
   * takes writes, into an inode no process will open again: tasks added there
   * would be lost at the next restart although their requests were answered.
   * So `add()` refuses them, until the path can take a copy of everything the
   * connection holds (`VACUUM INTO`, pending tasks included) and the store
   * goes on in that copy.
   */
  #copyBack(db: DatabaseSync): void {
    try {
      db.exec(`VACUUM INTO ${sqlString(this.#path)}`);
    } catch (error) {
      const moved = `its file ${this.#path} was removed or replaced since the store opened it`;
      throw new StoreUnavailable(this.description, new Error(`${moved}, and cannot be copied back yet: ${failureText(error, this.#path)}`, { cause: error }));
    }
    this.#reconnect(db);
  }

  /**
   * A file replaced under an open connection (another moved onto its path: a backup restored while the process
   * runs) still takes writes, into the old file, and its WAL, still at the path, then stood for the new file's
   * pages: a process opening the path read the old file's pages over the new one (its tasks, or a corrupt file). So
   * nothing more is written to the old file: every write is refused, saying so, the WAL emptied first (its commits
   * into the old file), so that the new file opens as it is.
   */
  #refuseReplaced(db: DatabaseSync): never {
    const replaced = `its file ${this.#path} was replaced by another since the store opened it`;
    // Not emptied, the WAL would be read over the new file: said, and tried again by the next write.
    this.#emptyWal(db, replaced, 'its WAL, still at the path, cannot be emptied into the old file while other processes read that file: stop them, then restart this process to use the new one');
    throw new StoreUnavailable(this.description, new Error(`${replaced}: nothing more is written to the one it opened (restart this process to use the new one)`));
  }

  /**
   * A WAL file removed under an open connection (a cleanup of "temporary" files) still takes its commits, into an
   * inode no other process sees: a process opening the file then failed with "disk I/O error", and the commits since
   * the last checkpoint were lost once this one died. So each write first checks that the WAL is still there; if not,
   * every commit in it is moved into the database file (a checkpoint) and the connection opened anew, with a new WAL.
   * A WAL another process has made since cannot be joined safely: writes are refused, saying to restart.
   */
  #checkWal(db: DatabaseSync): void {
    const now = fileIdentity(`${this.#path}-wal`);
    if (now === this.#wal) return;
    const removed = `its WAL file ${this.#path}-wal was removed while the store had it open`;
    // An empty one is another process's failed open (it found the shared memory naming frames of the WAL gone).
    if (now !== undefined && statSync(`${this.#path}-wal`).size > 0) {
      throw new StoreUnavailable(this.description, new Error(`${removed}, and another process writes a new one since: restart this process`));
    }
    this.#emptyWal(db, removed, 'its commits cannot be moved into the file while other processes read it: restart every process on the file');
    this.#reconnect(db);
  }

  /**
   * The WAL's shared-memory file (`-shm`, the index of the WAL that the processes on the file share) removed under
   * an open connection (a cleanup of files that look temporary): the connection goes on with its own mapping, which
   * a process opening the file since does not share; the commits of each then overwrote the other's in the WAL, and
   * acknowledged tasks were lost. Removed and not made anew: the connection is closed, and opened anew only if no
   * other process has the file open (#opened): one that opened it before the removal maps the removed index still,
   * and a new one would split the two. Made anew (a process opened the file since): nothing more is written here
   * (every write refused, saying so): restarting this process while a process on the new index has the file open is
   * safe, but one whose close empties the WAL by its stale index (node:sqlite cannot close without that) would lose
   * theirs.
   */
  #checkShm(db: DatabaseSync): void {
    const now = fileIdentity(`${this.#path}-shm`);
    if (now === this.#shm) return;
    if (now === undefined) return this.#reconnect(db);
    throw new StoreUnavailable(this.description, new Error(`its shared-memory file ${this.#path}-shm was removed while the store had it open, and a process has opened the file since, making a new one: the two no longer share their index of the WAL, and each one's commits would overwrite the other's; nothing more is written by this process: restart it while a process that opened the file since still has it open (its close would otherwise empty its stale index of the WAL into the file)`));
  }

  /**
   * Empties the WAL into the file `db` has open (truncateWal), or refuses, naming `problem`: with `busy` when another
   * process's read or write stops it, with SQLite's error otherwise.
   */
  #emptyWal(db: DatabaseSync, problem: string, busy: string): void {
    let emptied: boolean;
    try {
      emptied = truncateWal(db);
    } catch (error) {
      throw new StoreUnavailable(this.description, new Error(`${problem}, and its WAL cannot be emptied: ${failureText(error, this.#path)}`, { cause: error }));
    }
    if (!emptied) throw new StoreUnavailable(this.description, new Error(`${problem}, and ${busy}`));
  }

  /** One transaction, once the write lock is free (see #whenFree); `copyBack` for a registration (see #checkFiles). */
  #write<T>(work: (statements: Statements) => T, copyBack = false): Promise<T> {
    return this.#whenFree(() => this.#transaction(work, copyBack));
  }

  /** A read, once no lock stops it (in WAL mode readers rarely wait: another process's recovery of the file, say). */
  #read<T>(work: (statements: Statements) => T): Promise<T> {
    return this.#whenFree(() => this.#readNow(work));
  }

  /**
   * A call tried again, by timers, while another process's lock refuses it (SQLITE_BUSY), up to busyTimeoutMs; then
   * its StoreUnavailable. SQLite's own busy handler sleeps inside the call: it froze this process's event loop (every
   * request, every timer) for as long as another process kept the lock, up to the busy timeout.
   */
  async #whenFree<T>(call: () => T): Promise<T> {
    const until = performance.now() + this.#busyTimeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, MAX_LOCK_POLL_MS)) {
      try {
        return call();
      } catch (error) {
        // A write refused is rolled back whole: tried again from its start.
        if (!(error instanceof StoreUnavailable && isBusy(error.cause)) || performance.now() + wait > until) throw error;
        await delay(wait);
      }
    }
  }

  /**
   * Committed whole, or rolled back whole on any error. A write that found no room is tried once more after the WAL
   * is emptied into the file (#emptiedForRoom): SQLite checkpoints only once its WAL holds 1,000 pages, so a WAL
   * stopped short of that (a file size limit, a full disk) refused every write for good, though its commits fitted
   * the file, or freed room in it.
   */
  #transaction<T>(work: (statements: Statements) => T, copyBack: boolean, triedRoom = false): T {
    this.#checkFiles(copyBack);
    const s = this.#opened();
    try {
      s.begin.run();
    } catch (error) {
      throw this.#failure(error);
    }
    try {
      const result = work(s);
      s.commit.run();
      return result;
    } catch (error) {
      try {
        s.rollback.run();
      } catch {
        // SQLite rolled back already (a full disk, an I/O error): nothing is left to undo.
      }
      if (!triedRoom && isOutOfRoom(error) && this.#emptiedForRoom()) return this.#transaction(work, copyBack, true);
      throw this.#failure(error);
    }
  }

  /** Whether the WAL (of a file; not `:memory:`'s) was moved into the file and truncated; a checkpoint itself short of room or stopped by a reader is not. */
  #emptiedForRoom(): boolean {
    if (this.#wal === undefined) return false;
    try {
      return truncateWal(this.#db!);
    } catch {
      return false;
    }
  }

  #readNow<T>(work: (statements: Statements) => T): T {
    const s = this.#opened();
    try {
      return work(s);
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /** Closes `db` and connects anew (#copyBack, #checkWal, #checkShm); should that fail, the next call tries again (#opened). */
  #reconnect(db: DatabaseSync): void {
    this.#db = this.#statements = undefined;
    db.close();
    this.#lost = true;
    this.#opened();
  }

  #opened(): Statements {
    // A reconnection that failed (a lock, a folder not back yet) is tried again: it left the store closed for good.
    if (this.#lost) {
      // SQLite's close empties the WAL into the file and deletes it only when no other process has the file open: a
      // WAL left, its shared memory removed, is another process's, on the removed index (see #checkShm).
      if (fileIdentity(`${this.#path}-shm`) === undefined && fileIdentity(`${this.#path}-wal`) !== undefined) {
        throw new StoreUnavailable(this.description, new Error(`its shared-memory file ${this.#path}-shm was removed while the store had it open, and another process has the file open still, on the removed one: a new one would split the two, each one's commits overwriting the other's in the WAL; nothing more is written or read by this process: stop every process on the file, then start them`));
      }
      this.#connect(this.#Database!);
      this.#lost = false;
    }
    if (this.#statements === undefined) throw new StoreUnavailable(this.description, new Error('the store is not open'));
    return this.#statements;
  }

  #failure(error: unknown): unknown {
    return isUnavailable(error) ? new StoreUnavailable(this.description, error, failureText(error, this.#path)) : error;
  }
}

/**
 * Moves every commit of `db`'s WAL into its file and truncates the WAL (a TRUNCATE checkpoint); false when another
 * process's read or write stopped it, which SQLite says only in the checkpoint's result row, not by an error.
 */
function truncateWal(db: DatabaseSync): boolean {
  return db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()!.busy === 0;
}
