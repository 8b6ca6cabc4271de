import type { AttemptError } from './store.js';
import { DEFAULT_BACKOFF } from './task.js';

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

/** A row failed for good: what its JSON columns are written with, and why (`reason`, to log). */
export type UnreadableRow = Omit<StalledJson, 'seq' | 'id'> & { reason: string };

/** How much of a bad column's text the error keeps, to repair it by hand. */
const KEPT = 200;
const UNPARSED = Symbol('unparsed');

/**
 * A running task's row with a JSON column that does not parse (edited by
 * hand), or undefined when each does. Such a row is failed for good, its
 * attempt's `error` naming the row and the columns; each bad column is replaced (the default
 * backoff, a new errors list, null), its text kept in the error, so that the
 * row reads again (get, list, the dashboard, `coda tasks retry`).
 */
export function unreadableRow(row: StalledJson, error: AttemptError, description: string): UnreadableRow | undefined {
  const bad: string[] = [];
  /** The column's value, UNPARSED (noted as bad) when it is not JSON or fails `ok`. */
  const read = (column: 'backoff' | 'errors' | 'request' | 'trace' | 'outcome', ok: (value: unknown) => boolean): unknown => {
    const text = row[column];
    const value = text === null ? null : parsed(text);
    if (text === null || (value !== UNPARSED && ok(value))) return value;
    bad.push(`${column} (${JSON.stringify(text.length > KEPT ? `${text.slice(0, KEPT)}…` : text)})`);
    return UNPARSED;
  };
  const backoffOk = read('backoff', (value) => typeof value === 'object' && value !== null && !Array.isArray(value)) !== UNPARSED;
  const errors = read('errors', Array.isArray);
  const kept = (column: 'request' | 'trace' | 'outcome'): string | null => (read(column, () => true) === UNPARSED ? null : row[column]);
  const [request, trace, outcome] = [kept('request'), kept('trace'), kept('outcome')];
  if (bad.length === 0) return undefined;
  const reason = `durable task ${row.id} (row ${row.seq}) in the ${description} failed for good, not retried: its column ${bad.join(', its column ')} `
    + `${bad.length === 1 ? 'is' : 'are'} not valid JSON (edited by hand?), replaced${backoffOk ? '' : ' (the backoff by the default one)'}`;
  const failed: AttemptError = { ...error, message: `${error.message}; ${reason}` };
  return {
    backoff: backoffOk ? row.backoff : JSON.stringify(DEFAULT_BACKOFF),
    errors: JSON.stringify([...(errors === UNPARSED ? [] : errors as unknown[]), failed]),
    request,
    trace,
    outcome,
    reason,
  };
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return UNPARSED;
  }
}
