import { keptText, thrownMessage, unreadable } from './errors.js';
import { isNonRetryable } from './task.js';

/** What the runner keeps of a value an attempt threw (see readThrown()). */
export interface Thrown {
  /** The value thrown, or an Error in its stead when reading it threw: what is logged, traced and told to observers. */
  readonly error: unknown;
  /** The attempt's error as the store keeps it. */
  readonly message: string;
  readonly stack: string | undefined;
  /** A `NonRetryableError` (of any copy of coda-http: see isNonRetryable()): no attempt follows. */
  readonly final: boolean;
}

/**
 * Reads a thrown value once, as everything after the attempt reads it: its
 * type, text and stack, and the properties loggers and tracers read (pino's
 * error serializer reads `message`, `name`, `stack`, `cause`, `constructor`
 * and every enumerable property, down the `cause` chain and into an
 * AggregateError's `errors`). Should any of it throw (a Proxy whose
 * traps throw, a getter that throws), an Error naming what could not be read
 * stands in for it: the attempt's failure was left unrecorded, its task
 * running until its lease ran out, then charged as stalled.
 */
export function readThrown(value: unknown): Thrown {
  try {
    const isError = value instanceof Error;
    if (value !== null && (typeof value === 'object' || typeof value === 'function')) readProperties(value);
    const stack = isError ? value.stack : undefined;
    return { error: value, message: thrownMessage(value), stack: typeof stack === 'string' ? keptText(stack) : undefined, final: isNonRetryable(value) };
  } catch (failure) {
    const error = new Error(unreadable(value, failure));
    return { error, message: thrownMessage(error), stack: undefined, final: false };
  }
}

/** Thrown values read at most, causes and aggregated errors included: a chain is walked to its end, a cycle once. */
const MAX_READ = 64;

/** Reads what pino's error serializer reads, down the `cause` chain and into an AggregateError's `errors`, as it recurses. */
function readProperties(value: object): void {
  const seen = new Set<object>();
  const pending: object[] = [value];
  while (pending.length > 0 && seen.size < MAX_READ) {
    const next = pending.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const record = next as Record<string, unknown>;
    for (const key of ['message', 'name', 'stack', 'constructor']) void record[key];
    for (const key in record) void record[key];
    const { cause, errors } = record;
    for (const inner of Array.isArray(errors) ? [cause, ...(errors as unknown[])] : [cause]) {
      if (inner !== null && (typeof inner === 'object' || typeof inner === 'function')) pending.push(inner);
    }
  }
}
