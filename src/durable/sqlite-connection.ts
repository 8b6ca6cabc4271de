import type { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreUnavailable } from './errors.js';
import { failureText, isBusy, isCantOpen, isOutOfRoom, isUnavailable } from './sqlite-failure.js';
import { cannotOpen, fileIdentity } from './sqlite-file.js';
import { checkFiles, truncateWal, type ConnectionHandle } from './sqlite-file-checks.js';
import { checkInspectable, ensureSchema, schemaVersion } from './sqlite-schema.js';
import { prepareStatements, type Statements } from './sqlite-statements.js';

/** The longest wait between two tries of a call another process's lock refuses (SQLite's own handler waits up to 100 ms). */
const MAX_LOCK_POLL_MS = 25;
/**
 * The size the WAL file is cut back to once its commits are in the file: it kept its largest size on disk for good (a
 * reader's snapshot stopping checkpoints, a transaction of a request's 100,000 tasks). Twice what a WAL holds between
 * SQLite's checkpoints (1,000 pages): a WAL in steady use is never cut.
 */
const WAL_SIZE_LIMIT = 8 * 1024 * 1024;
/** `PRAGMA synchronous` answers with a number. */
const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/** The settings in force on a store's connection, as SQLite reports them (see SqliteStore.settings()). */
export interface SqliteSettings {
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  schemaVersion: number;
}

/**
 * A SQLite store's connection to its file: opened (and opened anew when the file or its WAL is moved under it),
 * each call one transaction or read, tried again while another process's lock refuses it. The file, its WAL and
 * its shared memory are checked before every write.
 */
export class SqliteConnection {
  readonly #path: string;
  readonly #description: string;
  readonly #synchronous: 'NORMAL' | 'FULL';
  readonly #busyTimeoutMs: number;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;
  /** The file the connection has open (undefined for `:memory:`): every write checks that the path still names it (see checkFiles()). */
  #file: string | undefined;
  /** The WAL file the connection writes (undefined for `:memory:`): every write checks that it is still there (see checkFiles()). */
  #wal: string | undefined;
  /** The WAL's shared-memory file the connection maps (undefined for `:memory:`): every write checks it too (see checkShm()). */
  #shm: string | undefined;
  /** A reconnection (#reconnect) failed: the next call connects again. */
  #lost = false;
  /** Opened to inspect (kOpenToInspect): no schema is written. */
  #inspect = false;
  #Database: typeof DatabaseSync | undefined;
  /** What the file checks read of it (see ConnectionHandle). */
  readonly #handle: ConnectionHandle;

  constructor(path: string, synchronous: 'NORMAL' | 'FULL', busyTimeoutMs: number, description: string) {
    this.#path = path;
    this.#synchronous = synchronous;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#description = description;
    const connection = this;
    this.#handle = {
      path,
      description,
      get db() {
        return connection.#db;
      },
      get file() {
        return connection.#file;
      },
      get wal() {
        return connection.#wal;
      },
      get shm() {
        return connection.#shm;
      },
      reconnect: (db) => this.#reconnect(db),
    };
  }

  /** Opens the file (a second call while open does nothing), tried again while another process holds its lock. */
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
      if (this.#inspect) checkInspectable(db, this.#description);
      else schemaVersion(db, this.#description);
      if (this.#path !== ':memory:') db.exec(`PRAGMA journal_mode = WAL; PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.exec(`PRAGMA synchronous = ${this.#synchronous}`);
      ensureSchema(db, this.#description);
      this.#statements = prepareStatements(db);
      this.#db = db;
      this.#file = this.#path === ':memory:' ? undefined : fileIdentity(this.#path);
      this.#wal = this.#file === undefined ? undefined : fileIdentity(`${this.#path}-wal`);
      this.#shm = this.#file === undefined ? undefined : fileIdentity(`${this.#path}-shm`);
    } catch (error) {
      db?.close();
      const why = isCantOpen(error) && this.#path !== ':memory:' ? cannotOpen(this.#path) : undefined;
      if (why !== undefined) throw new StoreUnavailable(this.#description, new Error(`cannot open ${this.#path}: ${why}`, { cause: error }));
      throw this.#failure(error);
    }
  }

  /** Opened to inspect (see SqliteStore's kOpenToInspect): no schema is written. */
  openToInspect(): Promise<void> {
    this.#inspect = true;
    return this.open();
  }

  /** Whether the connection is open (not closed, nor lost by a reconnection that failed). */
  get isOpen(): boolean {
    return this.#statements !== undefined;
  }

  /** The settings in force on the connection, as SQLite reports them. */
  settings(): SqliteSettings {
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

  /** Closes the connection; the next open() connects anew. */
  close(): void {
    this.#lost = false;
    const db = this.#db;
    this.#db = undefined;
    this.#statements = undefined;
    db?.close();
  }

  /** One transaction, once the write lock is free (see #whenFree); `copyBack` for a registration (see checkFiles()). */
  write<T>(work: (statements: Statements) => T, copyBack = false): Promise<T> {
    return this.#whenFree(() => this.#transaction(work, copyBack));
  }

  /** A read, once no lock stops it (in WAL mode readers rarely wait: another process's recovery of the file, say). */
  read<T>(work: (statements: Statements) => T): Promise<T> {
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
    checkFiles(this.#handle, copyBack);
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

  /** Closes `db` and connects anew (the file checks: copyFileBack(), checkWal(), checkShm()); should that fail, the next call tries again (#opened). */
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
      // WAL left, its shared memory removed, is another process's, on the removed index (see checkShm()).
      if (fileIdentity(`${this.#path}-shm`) === undefined && fileIdentity(`${this.#path}-wal`) !== undefined) {
        throw new StoreUnavailable(this.#description, new Error(`its shared-memory file ${this.#path}-shm was removed while the store had it open, and another process has the file open still, on the removed one: a new one would split the two, each one's commits overwriting the other's in the WAL; nothing more is written or read by this process: stop every process on the file, then start them`));
      }
      this.#connect(this.#Database!);
      this.#lost = false;
    }
    if (this.#statements === undefined) throw new StoreUnavailable(this.#description, new Error('the store is not open'));
    return this.#statements;
  }

  #failure(error: unknown): unknown {
    return isUnavailable(error) ? new StoreUnavailable(this.#description, error, failureText(error, this.#path)) : error;
  }
}
