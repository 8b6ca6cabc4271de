import { SEQ, type TaskRow } from './sqlite-rows.js';
import type { AttemptError } from './store.js';
import { DEFAULT_BACKOFF, isBackoff } from './task.js';
import { badParts, quoted } from './unreadable-words.js';

/** The columns of a running task's row that hold JSON (a stalled one recover() reads, one a claim took). */
export interface StalledJson {
  seq: number;
  id: string;
  backoff: string;
  errors: string;
  request: string | null;
  trace: string | null;
  outcome: string | null;
}

/** A task row's JSON columns (TASK_COLUMNS), as recover() reads them. */
export function jsonColumns(row: TaskRow): StalledJson {
  return {
    seq: row[SEQ] as number, id: row[1] as string, backoff: row[15] as string, request: row[16] as string | null, trace: row[17] as string | null,
    outcome: row[18] as string | null, errors: row[19] as string,
  };
}

/** A row failed for good: what its JSON columns are written with, and why (`reason`, to log). */
export type UnreadableRow = Omit<StalledJson, 'seq' | 'id'> & { reason: string };

const UNPARSED = Symbol('unparsed');

/** A row's JSON columns as they read again, and the bad ones each named with its text. */
interface Readable extends Omit<StalledJson, 'seq' | 'id' | 'errors'> {
  errors: unknown[];
  bad: string[];
  backoffOk: boolean;
}

/**
 * The JSON columns of `row`, each bad one (not JSON, or not of its shape: edited by hand) replaced so that the row
 * reads again (the default backoff, an empty errors list, null); undefined when each is good.
 */
function readable(row: StalledJson): Readable | undefined {
  const bad: string[] = [];
  /** The column's value, UNPARSED (noted as bad) when it is not JSON or fails `ok`. */
  const read = (column: 'backoff' | 'errors' | 'request' | 'trace' | 'outcome', ok: (value: unknown) => boolean): unknown => {
    const text = row[column];
    const value = text === null ? null : parsed(text);
    if (text === null || (value !== UNPARSED && ok(value))) return value;
    bad.push(`${column} (${quoted(text)})`);
    return UNPARSED;
  };
  const backoffOk = read('backoff', isBackoff) !== UNPARSED;
  const errors = read('errors', Array.isArray);
  const kept = (column: 'request' | 'trace' | 'outcome'): string | null => (read(column, () => true) === UNPARSED ? null : row[column]);
  const [request, trace, outcome] = [kept('request'), kept('trace'), kept('outcome')];
  if (bad.length === 0) return undefined;
  const backoff = backoffOk ? row.backoff : JSON.stringify(DEFAULT_BACKOFF);
  return { backoff, errors: errors === UNPARSED ? [] : errors as unknown[], request, trace, outcome, bad, backoffOk };
}

/** Why a row's columns are bad (see badParts()). */
function badColumns({ bad, backoffOk }: Readable, replaced: string): string {
  return badParts('column', bad, backoffOk, replaced);
}

/**
 * A running task's row with a JSON column that does not read (see readable()), or undefined when each does. Such a
 * row is failed for good, its attempt's `error` naming the row and the columns; each bad column is replaced, its text
 * kept in the error, so that the row reads again (get, list, the dashboard, `coda tasks retry`).
 */
export function unreadableRow(row: StalledJson, error: AttemptError, description: string): UnreadableRow | undefined {
  const columns = readable(row);
  if (columns === undefined) return undefined;
  const reason = `durable task ${row.id} (row ${row.seq}) in the ${description} failed for good, not retried: ${badColumns(columns, 'replaced')}`;
  const failed: AttemptError = { ...error, message: `${error.message}; ${reason}` };
  const { backoff, request, trace, outcome } = columns;
  return { backoff, errors: JSON.stringify([...columns.errors, failed]), request, trace, outcome, reason };
}

/**
 * The JSON columns of a row a read (get, list) found bad, as it shows them: replaced, and a last entry in its errors
 * (`note`, its message naming the row and the columns) marking it; the row itself is left as it is.
 */
export function shownRow(row: StalledJson, note: Omit<AttemptError, 'message'>, description: string): Omit<StalledJson, 'seq' | 'id'> {
  const columns = readable(row)!;
  const message = `durable task ${row.id} (row ${row.seq}) in the ${description} cannot be read as stored: ${badColumns(columns, 'shown replaced')}`;
  const { backoff, request, trace, outcome } = columns;
  return { backoff, errors: JSON.stringify([...columns.errors, { ...note, message }]), request, trace, outcome };
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return UNPARSED;
  }
}
