import type { DatabaseSync } from 'node:sqlite';
import { StoreUnavailable } from './errors.js';

/** The schema this code writes, kept in `PRAGMA user_version`: a later version migrates from here. */
const SCHEMA_VERSION = 3;

/**
 * A pending task that keeps its key (see keepsKey()): ready, running, or held
 * with `when` 'always'. As the key's index and the queries that use it spell
 * it: the same expression, so that SQLite sees the index serves them.
 * Comparisons joined by OR, not `IN (...)`: SQLite builds a temporary table
 * for an IN list of more than two values each time it evaluates one, and a
 * CHECK or a partial index's condition is evaluated for every row written
 * (version 1 spent about a third of a task's instructions there).
 */
export const KEEPS_KEY = "(state = 'ready' OR state = 'running' OR (state = 'held' AND run_when = 'always'))";

/**
 * One row per task; `seq` (the rowid) is the order tasks were added in. Small
 * columns come first and the JSON texts last, so that reading a row's state
 * never walks a large payload's overflow pages. The CHECKs keep the states
 * and the invariants the partial indexes rest on: a task has an owner while
 * held or running, a finish time once completed or failed.
 */
const table = (name: string): string => `
CREATE TABLE ${name} (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state = 'held' OR state = 'ready' OR state = 'running' OR state = 'completed' OR state = 'failed'),
  key TEXT,
  run_when TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  owner TEXT,
  lease_until INTEGER,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  backoff TEXT NOT NULL,
  request TEXT,
  trace TEXT,
  outcome TEXT,
  errors TEXT NOT NULL,
  payload TEXT NOT NULL,
  CHECK ((owner IS NOT NULL) = (state = 'held' OR state = 'running')),
  CHECK ((finished_at IS NOT NULL) = (state = 'completed' OR state = 'failed'))
);`;

/** At most one pending task that keeps its key per key, whichever process adds it. */
const KEY_INDEX = `CREATE UNIQUE INDEX coda_tasks_pending_key ON coda_tasks (key) WHERE key IS NOT NULL AND ${KEEPS_KEY};`;

/**
 * The indexes are partial: each holds only the tasks it serves, so that a
 * task costs few index writes on its way through and the ended tasks kept for
 * retention weigh on none but the last. The tasks in flight (held and
 * running) are indexed by name alone, which never changes: a release from
 * held to running leaves that index untouched (version 1 keyed it by state,
 * name, owner and lease, rewritten at every step); they are few, so recovery
 * scans them all.
 */
const INDEXES = `
${KEY_INDEX}
-- Claims: ready tasks by name, oldest run_at first, then seq (the rowid, last in every index).
CREATE INDEX coda_tasks_claim ON coda_tasks (name, run_at) WHERE state = 'ready';
-- Held and running tasks: recovery, running tasks per name, stats.
CREATE INDEX coda_tasks_owned ON coda_tasks (name) WHERE owner IS NOT NULL;
-- Ended tasks: pruning by finish time per name, and their counts.
CREATE INDEX coda_tasks_ended ON coda_tasks (state, name, finished_at) WHERE finished_at IS NOT NULL;
PRAGMA user_version = ${SCHEMA_VERSION};
`;

const SCHEMA = `${table('coda_tasks')}\n${INDEXES}`;

/**
 * What takes a file from each version to the next, by the version it is at.
 * 1 to 2: the table rebuilt with the CHECKs above (SQLite cannot change a
 * CHECK in place), its rows copied as they are, and the indexes made anew.
 * 2 to 3: the key's index no longer holds a held task that its `when` may
 * skip (version 2's held every pending task).
 */
const MIGRATIONS: Readonly<Record<number, string>> = {
  1: `${table('coda_tasks_v2')}
INSERT INTO coda_tasks_v2 SELECT * FROM coda_tasks;
DROP TABLE coda_tasks;
ALTER TABLE coda_tasks_v2 RENAME TO coda_tasks;
${INDEXES}`,
  2: `DROP INDEX coda_tasks_pending_key;
${KEY_INDEX}
PRAGMA user_version = 3;`,
};

/**
 * Creates the schema in an empty database, or migrates an older one, in one
 * transaction (another process opening the same file waits, then finds it
 * done); a database already at this version is only read, so a read-only
 * file opens (an older read-only file cannot be migrated, and is refused).
 * Refuses a file written by a newer version of this code.
 */
export function ensureSchema(db: DatabaseSync, description: string): void {
  if (schemaVersion(db, description) === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = schemaVersion(db, description);
    if (version === 0) db.exec(SCHEMA);
    // Each migration sets the version it reaches: version 1's builds today's indexes, and so reaches this version at once.
    else for (let from = version; from < SCHEMA_VERSION; from = schemaVersion(db, description)) db.exec(MIGRATIONS[from]!);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

/**
 * Reads only: refuses, before anything is written to it (WAL mode included),
 * a file that is not a task store this code may use or make: another
 * program's database, or a newer Coda's. Returns its schema version (0: an
 * empty database, to be made a store).
 */
export function schemaVersion(db: DatabaseSync, description: string): number {
  // One statement, one snapshot: another process may make the schema meanwhile, and a version read before its commit
  // (none) with tables read after it (Coda's own) was taken for another program's database (a cluster's workers opening a new file).
  const read = db.prepare(`SELECT (SELECT user_version FROM pragma_user_version) AS version, (SELECT json_group_array(name) FROM (${TABLES})) AS tables`).get()!;
  const version = Number(read.version);
  const tables = (JSON.parse(String(read.tables)) as string[]).sort();
  // Another program's database keeps its own version there: taken for Coda's, it failed on a missing table or index, or asked for a newer Coda.
  if (version !== 0 && !tables.includes('coda_tasks')) {
    throw new StoreUnavailable(description, new Error(`it is not a Coda task store: its schema version (PRAGMA user_version) is ${version}, and it has no coda_tasks table: it is another program's database; give sqliteStore() a file of its own`));
  }
  // One that keeps none (version 0) but has tables: taken for an empty file, Coda's schema was written into it.
  if (version === 0 && tables.length > 0) {
    throw new StoreUnavailable(description, new Error(`it is not a Coda task store: it has tables of its own (${named(tables).join(', ')}) and no Coda schema version (PRAGMA user_version is 0): it is another program's database; give sqliteStore() a file of its own`));
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreUnavailable(description, new Error(`it has schema version ${version}; this version of Coda knows up to ${SCHEMA_VERSION}: upgrade Coda`));
  }
  return version;
}

/** The most tables a refusal names. */
const NAMED_TABLES = 5;

/** A database's own tables (not SQLite's). */
const TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/** The first few of `names`, and how many more. */
function named(names: string[]): string[] {
  return names.length > NAMED_TABLES ? [...names.slice(0, NAMED_TABLES), `${names.length - NAMED_TABLES} more`] : names;
}

/**
 * Reads only, for a store opened to inspect (`coda tasks`), which writes no
 * schema: refuses what schemaVersion() refuses, and a file that is not a
 * store of this version yet: an empty database (it would be made one) or an
 * older store (it would be migrated).
 */
export function checkInspectable(db: DatabaseSync, description: string): void {
  const version = schemaVersion(db, description);
  if (version === 0) {
    throw new StoreUnavailable(description, new Error("it is an empty database, not yet a Coda task store, and a store opened to inspect creates none (the app's web process or coda worker does)"));
  }
  if (version < SCHEMA_VERSION) {
    throw new StoreUnavailable(description, new Error(`it has schema version ${version}, which the app's web process or coda worker migrates to ${SCHEMA_VERSION} when it opens it; a store opened to inspect writes no schema`));
  }
}
