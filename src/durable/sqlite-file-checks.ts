import { statSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { StoreUnavailable } from './errors.js';
import { failureText } from './sqlite-failure.js';
import { fileIdentity, sqlString } from './sqlite-file.js';

/**
 * What the file checks need of a SqliteConnection, passed to them explicitly
 * (its state stays its own): each field read as it is when used.
 */
export interface ConnectionHandle {
  /** The file (or `':memory:'`). */
  readonly path: string;
  readonly description: string;
  /** The connection's database, while connected. */
  readonly db: DatabaseSync | undefined;
  /** Which file the connection has open, and its WAL and shared memory, as found when it connected (undefined for `:memory:`). */
  readonly file: string | undefined;
  readonly wal: string | undefined;
  readonly shm: string | undefined;
  /** Closes `db` and connects anew; should that fail, the next call tries again. */
  reconnect(db: DatabaseSync): void;
}

/**
 * The file and its WAL, looked at once (a stat each) before every write: a write into a file or a WAL no other
 * process sees is lost. The file removed: a registration copies it back first (copyFileBack()), other writes go on (a
 * registration comes soon enough, and their tasks are in the connection's copy); replaced: every write is refused
 * (refuseReplaced()); the WAL removed: checkWal().
 */
export function checkFiles(c: ConnectionHandle, copyBack: boolean): void {
  // Not connected (a reconnection to try again): the connection's to do (its #opened).
  if (c.file === undefined || c.db === undefined) return;
  const now = fileIdentity(c.path);
  if (now === undefined) {
    if (copyBack) copyFileBack(c, c.db);
    return;
  }
  if (now !== c.file) refuseReplaced(c, c.db);
  checkWal(c, c.db);
  // After the WAL's check, whose reconnection (if any) maps the shared memory anew.
  if (c.db !== undefined) checkShm(c, c.db);
}

/**
 * A file removed under an open connection (its folder deleted, say) still
 * takes writes, into an inode no process will open again: tasks added there
 * would be lost at the next restart although their requests were answered.
 * So `add()` refuses them, until the path can take a copy of everything the
 * connection holds (`VACUUM INTO`, pending tasks included) and the store
 * goes on in that copy.
 */
function copyFileBack(c: ConnectionHandle, db: DatabaseSync): void {
  try {
    db.exec(`VACUUM INTO ${sqlString(c.path)}`);
  } catch (error) {
    const moved = `its file ${c.path} was removed or replaced since the store opened it`;
    throw new StoreUnavailable(c.description, new Error(`${moved}, and cannot be copied back yet: ${failureText(error, c.path)}`, { cause: error }));
  }
  c.reconnect(db);
}

/**
 * A file replaced under an open connection (another moved onto its path: a backup restored while the process
 * runs) still takes writes, into the old file, and its WAL, still at the path, then stood for the new file's
 * pages: a process opening the path read the old file's pages over the new one (its tasks, or a corrupt file). So
 * nothing more is written to the old file: every write is refused, saying so, the WAL emptied first (its commits
 * into the old file), so that the new file opens as it is.
 */
function refuseReplaced(c: ConnectionHandle, db: DatabaseSync): never {
  const replaced = `its file ${c.path} was replaced by another since the store opened it`;
  // Not emptied, the WAL would be read over the new file: said, and tried again by the next write.
  emptyWal(c, db, replaced, 'its WAL, still at the path, cannot be emptied into the old file while other processes read that file: stop them, then restart this process to use the new one');
  throw new StoreUnavailable(c.description, new Error(`${replaced}: nothing more is written to the one it opened (restart this process to use the new one)`));
}

/**
 * A WAL file removed under an open connection (a cleanup of "temporary" files) still takes its commits, into an
 * inode no other process sees: a process opening the file then failed with "disk I/O error", and the commits since
 * the last checkpoint were lost once this one died. So each write first checks that the WAL is still there; if not,
 * every commit in it is moved into the database file (a checkpoint) and the connection opened anew, with a new WAL.
 * A WAL another process has made since cannot be joined safely: writes are refused, saying to restart.
 */
function checkWal(c: ConnectionHandle, db: DatabaseSync): void {
  const now = fileIdentity(`${c.path}-wal`);
  if (now === c.wal) return;
  const removed = `its WAL file ${c.path}-wal was removed while the store had it open`;
  // An empty one is another process's failed open (it found the shared memory naming frames of the WAL gone).
  if (now !== undefined && statSync(`${c.path}-wal`).size > 0) {
    throw new StoreUnavailable(c.description, new Error(`${removed}, and another process writes a new one since: restart this process`));
  }
  emptyWal(c, db, removed, 'its commits cannot be moved into the file while other processes read it: restart every process on the file');
  c.reconnect(db);
}

/**
 * The WAL's shared-memory file (`-shm`, the index of the WAL that the processes on the file share) removed under
 * an open connection (a cleanup of files that look temporary): the connection goes on with its own mapping, which
 * a process opening the file since does not share; the commits of each then overwrote the other's in the WAL, and
 * acknowledged tasks were lost. Removed and not made anew: the connection is closed, and opened anew only if no
 * other process has the file open (SqliteConnection's #opened): one that opened it before the removal maps the
 * removed index still, and a new one would split the two. Made anew (a process opened the file since): nothing more
 * is written here (every write refused, saying so): restarting this process while a process on the new index has the
 * file open is safe, but one whose close empties the WAL by its stale index (node:sqlite cannot close without that)
 * would lose theirs.
 */
function checkShm(c: ConnectionHandle, db: DatabaseSync): void {
  const now = fileIdentity(`${c.path}-shm`);
  if (now === c.shm) return;
  if (now === undefined) return c.reconnect(db);
  throw new StoreUnavailable(c.description, new Error(`its shared-memory file ${c.path}-shm was removed while the store had it open, and a process has opened the file since, making a new one: the two no longer share their index of the WAL, and each one's commits would overwrite the other's; nothing more is written by this process: restart it while a process that opened the file since still has it open (its close would otherwise empty its stale index of the WAL into the file)`));
}

/**
 * Empties the WAL into the file `db` has open (truncateWal()), or refuses, naming `problem`: with `busy` when another
 * process's read or write stops it, with SQLite's error otherwise.
 */
function emptyWal(c: ConnectionHandle, db: DatabaseSync, problem: string, busy: string): void {
  let emptied: boolean;
  try {
    emptied = truncateWal(db);
  } catch (error) {
    throw new StoreUnavailable(c.description, new Error(`${problem}, and its WAL cannot be emptied: ${failureText(error, c.path)}`, { cause: error }));
  }
  if (!emptied) throw new StoreUnavailable(c.description, new Error(`${problem}, and ${busy}`));
}

/**
 * Moves every commit of `db`'s WAL into its file and truncates the WAL (a TRUNCATE checkpoint); false when another
 * process's read or write stopped it, which SQLite says only in the checkpoint's result row, not by an error.
 */
export function truncateWal(db: DatabaseSync): boolean {
  return db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()!.busy === 0;
}
