import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { returnArrays, TASK_COLUMNS } from './sqlite-rows.js';
import { KEPT_FIRST_ERRORS as FIRST, KEPT_LAST_ERRORS as LAST, OMITTED_MESSAGE } from './kept-errors.js';
import { KEEPS_KEY } from './sqlite-schema.js';

/** A JSON array parameter as a set: one prepared statement serves a list of any length. */
const LIST = '(SELECT value FROM json_each(?))';

/**
 * Releases as a table, from a JSON array of `[id, runAt, outcome]` (the
 * outcome as JSON, kept as its text): one statement for a batch. Joined by id
 * from this side (`+state`, `+owner` in the statements keep SQLite from
 * scanning the held tasks instead).
 */
const RELEASES = `(SELECT value ->> 0 AS r_id, value ->> 1 AS r_run_at, value -> '$[2]' AS r_outcome FROM json_each(?1))`;

/**
 * A held task `t` that keeps no key (keepsKey()), whose key another pending
 * task keeps, or one of `earlier` (a condition on `o`) added before it: when
 * they are run together, the first added keeps the key. (`+o.seq`: `o` is
 * found through `earlier`'s index, not by scanning every older row.)
 */
const COVERED = (earlier: string): string => `t.key IS NOT NULL AND t.run_when <> 'always'
  AND (EXISTS (SELECT 1 FROM coda_tasks WHERE key = t.key AND ${KEEPS_KEY})
    OR EXISTS (SELECT 1 FROM coda_tasks AS o WHERE ${earlier} AND o.key = t.key AND +o.seq < t.seq))`;

/** The entry that stands for `count` attempts whose errors were left out, the last of them finished at `finishedAt` (SQL). */
const omitted = (count: string, finishedAt: string): string => `json_object('attempt', 0, 'omitted', ${count},
  'message', '${OMITTED_MESSAGE[0]}' || (${count}) || '${OMITTED_MESSAGE[1]}', 'startedAt', NULL, 'finishedAt', ${finishedAt})`;

/**
 * `errors` with the error `entry` (JSON text) appended, kept to the first
 * FIRST and the last LAST attempts' (kept-errors.ts): past that, the entry at
 * FIRST counts those left out (its own count, or 1, and one for each other
 * error dropped), finished when the last of them did. A row that held more
 * (written before the cap) is trimmed so too, not kept at its length.
 */
const appendError = (entry: string): string => `CASE
  WHEN json_array_length(errors) < ${FIRST + LAST} THEN json_insert(errors, '$[#]', json(${entry}))
  ELSE json_insert((SELECT json_group_array(iif(key = ${FIRST},
      ${omitted(`json_array_length(errors) - ${FIRST + LAST} + coalesce(errors ->> '$[${FIRST}].omitted', 1)`, `errors ->> '$[#-${LAST}].finishedAt'`)},
      value) ORDER BY key)
    FROM json_each(errors) WHERE key <= ${FIRST} OR key > json_array_length(errors) - ${LAST}), '$[#]', json(${entry}))
END`;

// Each partial index is chosen only by a query that states its condition:
// `owner IS NOT NULL` (held and running), `finished_at IS NOT NULL` (ended).

/** Every statement the SQLite store runs, prepared once when it opens. */
export function prepareStatements(db: DatabaseSync) {
  const sql = (text: string): StatementSync => db.prepare(text);
  /** Rows as arrays: cheaper than an object per row. */
  const arrays = (text: string): StatementSync => returnArrays(db.prepare(text));
  return {
    begin: sql('BEGIN IMMEDIATE'),
    commit: sql('COMMIT'),
    rollback: sql('ROLLBACK'),

    insert: sql(`INSERT INTO coda_tasks (id, name, state, key, run_when, attempt, max_attempts, timeout_ms, run_at, owner,
      lease_until, created_at, backoff, request, trace, errors, payload) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)`),
    keyHolder: sql(`SELECT id FROM coda_tasks WHERE key = ? AND ${KEEPS_KEY}`),

    // ?1 the releases (RELEASES), ?2 the owner. `+state`, `+owner`: found by id, one lookup per release.
    releaseToRun: arrays(`UPDATE coda_tasks SET state = 'ready', run_at = r_run_at, outcome = r_outcome, owner = NULL, lease_until = NULL
      FROM ${RELEASES} WHERE id = r_id AND +state = 'held' AND +owner = ?2 RETURNING id`),
    // A held task the release claims (this process added it, and knows it: see SqliteStore's #held), found by id.
    heldToRunning: sql(`UPDATE coda_tasks SET state = 'running', run_at = ?, outcome = ?, lease_until = ?, started_at = ?, attempt = attempt + 1
      WHERE id = ? AND +state = 'held' AND +owner = ?`),
    releaseSkipped: sql(`DELETE FROM coda_tasks WHERE id IN ${LIST} AND +state = 'held' AND +owner = ?`),
    // ?1 the ids of holds released to run, ?2 the owner: those that keep no key (keepsKey()) whose key another pending task
    // keeps, or an earlier of them (its run covers theirs), removed.
    releaseCovered: arrays(`DELETE FROM coda_tasks AS t WHERE id IN (SELECT value FROM json_each(?1)) AND +state = 'held' AND +owner = ?2
      AND ${COVERED('o.id IN (SELECT value FROM json_each(?1)) AND o.state = \'held\' AND o.owner = ?2')} RETURNING id`),

    runningOf: sql(`SELECT count(*) AS n FROM coda_tasks WHERE state = 'running' AND name = ? AND owner IS NOT NULL`),
    dueOf: arrays(`SELECT seq, name, run_at FROM coda_tasks WHERE state = 'ready' AND name = ? AND run_at <= ? ORDER BY run_at, seq LIMIT ?`),
    dueAmong: arrays(`SELECT seq, name, run_at FROM coda_tasks WHERE id IN ${LIST} AND state = 'ready' AND run_at <= ?`),
    claim: arrays(`UPDATE coda_tasks SET state = 'running', owner = ?, lease_until = ?, started_at = ?, attempt = attempt + 1
      WHERE seq IN ${LIST} RETURNING ${TASK_COLUMNS}`),

    heartbeat: sql(`UPDATE coda_tasks SET lease_until = ? WHERE id IN ${LIST} AND +owner = ? AND +state IN ('held', 'running')`),
    // `+state`, `+owner`: found by id, not by scanning every running task.
    complete: sql(`UPDATE coda_tasks SET state = 'completed', finished_at = ?, owner = NULL, lease_until = NULL
      WHERE id IN ${LIST} AND +state = 'running' AND +owner = ? RETURNING id`),
    // ?1 the error's JSON, ?2 when to retry (NULL: failed for good), ?3 when it failed, ?4 id, ?5 owner.
    fail: sql(`UPDATE coda_tasks SET errors = ${appendError('?1')},
      state = iif(?2 IS NULL, 'failed', 'ready'), run_at = coalesce(?2, run_at), finished_at = iif(?2 IS NULL, ?3, NULL),
      owner = NULL, lease_until = NULL
      WHERE id = ?4 AND state = 'running' AND owner = ?5`),
    giveBack: sql(`UPDATE coda_tasks SET state = 'ready', attempt = attempt - 1, owner = NULL, lease_until = NULL
      WHERE id IN ${LIST} AND +state = 'running' AND +owner = ?`),

    // Ready at its registration's run_at (its delayMs kept) or now, whichever is later.
    // ?1 now: the lapsed holds that keep no key whose key is kept, or an earlier lapsed one's (see releaseCovered), removed.
    recoverCovered: sql(`DELETE FROM coda_tasks AS t WHERE state = 'held' AND owner IS NOT NULL AND lease_until < ?1
      AND ${COVERED('o.state = \'held\' AND o.owner IS NOT NULL AND o.lease_until < ?1')}`),
    recoverHeld: sql(`UPDATE coda_tasks SET state = 'ready', run_at = max(run_at, ?1), owner = NULL, lease_until = NULL
      WHERE state = 'held' AND owner IS NOT NULL AND lease_until < ?1`),
    stalled: sql(`SELECT seq, id, owner, attempt, max_attempts, backoff, errors, request, trace, outcome, started_at, lease_until FROM coda_tasks
      WHERE state = 'running' AND owner IS NOT NULL AND lease_until < ?`),
    // A stalled task whose JSON columns do not all parse (see sqlite-unreadable.ts): failed for good, the bad ones replaced.
    failUnreadable: sql(`UPDATE coda_tasks SET backoff = ?, errors = ?, request = ?, trace = ?, outcome = ?, state = 'failed', finished_at = ?,
      owner = NULL, lease_until = NULL WHERE id = ? AND state = 'running' AND owner = ?`),

    firstRunAt: sql(`SELECT run_at FROM coda_tasks WHERE state = 'ready' AND name = ? ORDER BY run_at LIMIT 1`),
    readyNameAfter: sql(`SELECT name FROM coda_tasks WHERE state = 'ready' AND name > ? ORDER BY name LIMIT 1`),
    stats: sql(`SELECT state, name, count(*) AS n, sum(run_at > ?) AS delayed FROM coda_tasks WHERE state = 'ready' GROUP BY name
      UNION ALL SELECT state, name, count(*), 0 FROM coda_tasks WHERE state IN ('held', 'running') AND owner IS NOT NULL GROUP BY state, name
      UNION ALL SELECT state, name, count(*), 0 FROM coda_tasks WHERE state IN ('completed', 'failed') AND finished_at IS NOT NULL
        GROUP BY state, name`),
    // ?3: a page's cursor, the seq of the last task of the page before.
    list: arrays(`SELECT ${TASK_COLUMNS} FROM coda_tasks WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR name = ?2)
      AND (?3 IS NULL OR seq < ?3) ORDER BY seq DESC LIMIT ?4`),
    get: arrays(`SELECT ${TASK_COLUMNS} FROM coda_tasks WHERE id = ?`),

    // Not while another pending task has its key: two pending tasks never share one.
    retry: sql(`UPDATE coda_tasks AS t SET state = 'ready', run_at = ?, attempt = 0, finished_at = NULL
      WHERE id = ? AND state = 'failed' AND (key IS NULL OR NOT EXISTS (SELECT 1 FROM coda_tasks WHERE key = t.key AND ${KEEPS_KEY}))`),
    discard: sql(`DELETE FROM coda_tasks WHERE id = ? AND state <> 'running'`),
    // Per name, so that each delete is a range of the ended index.
    completedNameAfter: sql(`SELECT name FROM coda_tasks WHERE state = 'completed' AND finished_at IS NOT NULL AND name > ?
      ORDER BY name LIMIT 1`),
    // At most ?3 at a time: a batch is a transaction (see prune()).
    prune: sql(`DELETE FROM coda_tasks WHERE seq IN (SELECT seq FROM coda_tasks WHERE state = 'completed' AND name = ?1 AND finished_at < ?2 LIMIT ?3)`),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** Whether a statement's run changed a row. */
export const changed = (result: { changes: number | bigint }): boolean => Number(result.changes) > 0;
