import type { DatabaseSync } from 'node:sqlite';

/** The schema this code writes, kept in `PRAGMA user_version`: a later version migrates from here. */
export const SCHEMA_VERSION = 2;

/**
 * Held and running tasks (they have an owner): recovery, running tasks per
 * name, stats. Keyed by name alone, which never changes: a release from held
 * to running (state, lease) leaves it untouched, so a task costs it one entry
 * added and one removed on its way, not four writes. Version 1 keyed it by
 * (state, name, owner, lease_until); the tasks it serves are few (those in
 * flight), so recovery scans them all.
 */
const OWNED_INDEX = `-- Held and running tasks, by name.
CREATE INDEX coda_tasks_owned ON coda_tasks (name) WHERE owner IS NOT NULL;`;

/** What takes a file from each version to the next, by the version it is at. */
const MIGRATIONS: Readonly<Record<number, string>> = {
  1: `DROP INDEX coda_tasks_lease;\n${OWNED_INDEX}\nPRAGMA user_version = 2;`,
};

/**
 * One row per task; `seq` (the rowid) is the order tasks were added in. Small
 * columns come first and the JSON texts last, so that reading a row's state
 * never walks a large payload's overflow pages. The indexes are partial: each
 * holds only the tasks it serves, so that a task costs few index writes on its
 * way through and the ended tasks kept for retention weigh on none but the
 * last. Their conditions are the invariants the CHECKs keep: a task has an
 * owner while held or running, a finish time once completed or failed.
 */
const SCHEMA = `
CREATE TABLE coda_tasks (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('held', 'ready', 'running', 'completed', 'failed')),
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
  CHECK ((owner IS NOT NULL) = (state IN ('held', 'running'))),
  CHECK ((finished_at IS NOT NULL) = (state IN ('completed', 'failed')))
);
-- At most one pending task per key, whichever process adds it.
CREATE UNIQUE INDEX coda_tasks_pending_key ON coda_tasks (key) WHERE key IS NOT NULL AND state IN ('held', 'ready', 'running');
-- Claims: ready tasks by name, oldest run_at first, then seq (the rowid, last in every index).
CREATE INDEX coda_tasks_claim ON coda_tasks (name, run_at) WHERE state = 'ready';
${OWNED_INDEX}
-- Ended tasks: pruning by finish time per name, and their counts.
CREATE INDEX coda_tasks_ended ON coda_tasks (state, name, finished_at) WHERE finished_at IS NOT NULL;
PRAGMA user_version = ${SCHEMA_VERSION};
`;

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
    else for (let from = version; from < SCHEMA_VERSION; from++) db.exec(MIGRATIONS[from]!);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

function schemaVersion(db: DatabaseSync, description: string): number {
  const version = Number(db.prepare('PRAGMA user_version').get()!.user_version);
  if (version > SCHEMA_VERSION) {
    throw new Error(`${description} has schema version ${version}; this version of Coda knows up to ${SCHEMA_VERSION}: upgrade Coda`);
  }
  return version;
}
