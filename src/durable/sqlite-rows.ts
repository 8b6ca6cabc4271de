import type { SQLOutputValue, StatementSync } from 'node:sqlite';
import type { AttemptError, Backoff, StoredTask } from './store.js';
import { isBackoff } from './task.js';

/** The columns a task is read with, in this order: rows come back as arrays (no per-row object with 21 keys). */
export const TASK_COLUMNS = [
  'seq', 'id', 'name', 'state', 'key', 'run_when', 'attempt', 'max_attempts', 'timeout_ms', 'run_at', 'owner',
  'lease_until', 'created_at', 'started_at', 'finished_at', 'backoff', 'request', 'trace', 'outcome', 'errors', 'payload',
].join(', ');

export type TaskRow = SQLOutputValue[];
export const SEQ = 0;

/**
 * Rows as arrays where `node:sqlite` can (Node 24; 22 returns objects, whose
 * values come in the same column order).
 */
export function returnArrays(statement: StatementSync): StatementSync {
  statement.setReturnArrays?.(true);
  return statement;
}

export function rowsOf(rows: readonly unknown[]): TaskRow[] {
  return rows.map((row) => (Array.isArray(row) ? row : Object.values(row as object)));
}

/** Tasks share a few backoff texts (one per task definition): each is parsed once, and each task gets its own copy. */
const backoffs = new Map<string, Backoff>();

function backoffOf(text: string): Backoff {
  let backoff = backoffs.get(text);
  if (backoff === undefined) {
    if (backoffs.size >= 1000) backoffs.clear();
    const value: unknown = JSON.parse(text);
    // Valid JSON of another shape (edited by hand) would fail the task's retry later, with a NaN time or a TypeError.
    if (!isBackoff(value)) throw new TypeError(`a task's backoff ${text} is not a backoff`);
    backoffs.set(text, (backoff = value));
  }
  return { ...backoff };
}

/** Tasks of one definition share its backoff object: its JSON is written once. */
const backoffTexts = new WeakMap<Backoff, string>();

export function backoffText(backoff: Backoff): string {
  let text = backoffTexts.get(backoff);
  if (text === undefined) backoffTexts.set(backoff, (text = JSON.stringify(backoff)));
  return text;
}

const parsed = (text: SQLOutputValue | undefined) => (text === null ? null : JSON.parse(text as string));

export function toTask(row: TaskRow): StoredTask {
  return {
    id: row[1] as string,
    name: row[2] as string,
    payload: row[20] as string,
    state: row[3] as StoredTask['state'],
    key: row[4] as string | null,
    when: row[5] as StoredTask['when'],
    attempt: row[6] as number,
    maxAttempts: row[7] as number,
    backoff: backoffOf(row[15] as string),
    timeoutMs: row[8] as number,
    runAt: row[9] as number,
    owner: row[10] as string | null,
    leaseUntil: row[11] as number | null,
    createdAt: row[12] as number,
    startedAt: row[13] as number | null,
    finishedAt: row[14] as number | null,
    request: parsed(row[16]),
    outcome: parsed(row[18]),
    trace: parsed(row[17]),
    errors: row[19] === '[]' ? [] : errorsOf(row[19] as string),
  };
}

function errorsOf(text: string): AttemptError[] {
  const errors: unknown = JSON.parse(text);
  // The store appends to it in SQL (json_insert), which leaves anything but an array as it is.
  if (!Array.isArray(errors)) throw new TypeError(`a task's errors ${text} are not a list`);
  return errors as AttemptError[];
}

