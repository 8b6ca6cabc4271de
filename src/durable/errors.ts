import { inspect, types } from 'node:util';
import { brand } from '../util/brand.js';
import { errorMessage } from '../util/describe.js';

/**
 * The task store cannot be read or written now: its file is read-only, locked
 * by another process past the busy timeout, corrupt, on a full disk, or the
 * store is closed. Nothing was changed by the call that failed (each write is
 * one transaction). The web layer answers 503 with `Retry-After`.
 *
 * @example
 * ```ts
 * try { await store.add(tasks, owner, leaseUntil); }
 * catch (error) { if (error instanceof StoreUnavailable) return new Response(null, { status: 503 }); throw error; }
 * ```
 */
export class StoreUnavailable extends Error {
  readonly code: string = 'CODA_STORE_UNAVAILABLE';
  /** Why, without naming the store: the message is "<the store> is unavailable: <reason>". */
  readonly reason: string;

  /** `reason`: what the message says of `cause`, when its own message does not say enough (SQLite's "disk I/O error"). */
  constructor(description: string, cause: unknown, reason = errorMessage(cause)) {
    super(`${description} is unavailable: ${reason}`, { cause });
    this.reason = reason;
  }

  override get name(): string {
    return 'StoreUnavailable';
  }
}

// Told by its brand (see brand()): a store importing its own copy of coda-http (a custom store, another version
// installed) threw one that `instanceof` did not take for one, and a store that could not open was never tried again.
brand(StoreUnavailable, 'coda-http.StoreUnavailable');

/**
 * How a thrown value is kept as text (an attempt's error, a response's
 * outcome): an Error's name and message, a string as it is, any other value
 * inspected (`{ code: 42 }`, not `[object Object]`; an object without a
 * prototype too, which `String()` throws on), so that it says what was thrown;
 * at most MAX_KEPT characters of it. Never throws: a value whose reading
 * throws (a Proxy whose traps throw, a `message` getter that throws) is told
 * by what reading it threw (see unreadable()).
 */
export function thrownMessage(error: unknown): string {
  try {
    if (error instanceof Error) return keptText(`${error.name}: ${error.message}`);
    if (typeof error === 'string') return keptText(error);
    return keptText(inspect(error, INSPECTED));
  } catch (failure) {
    return keptText(unreadable(error, failure));
  }
}

const INSPECTED = { depth: 3, breakLength: Infinity, maxStringLength: 1000, maxArrayLength: 20 };

/**
 * The text that stands for a thrown value that could not be read: what it is
 * (a Proxy, an object), and what reading it threw (itself read with care: it
 * may be as hostile).
 */
export function unreadable(value: unknown, failure: unknown): string {
  const what = types.isProxy(value) ? 'a Proxy' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  let why: string;
  try {
    why = failure instanceof Error ? `${failure.name}: ${failure.message}` : typeof failure === 'string' ? failure : inspect(failure, INSPECTED);
  } catch {
    why = 'a value that could not be read either';
  }
  return `a value that could not be read was thrown (${what}; reading it threw ${why})`;
}

/** The most of an error's text (its message, its stack) the store keeps: every attempt's is kept, and read with its task. */
const MAX_KEPT = 10_000;

/** `text`, cut to MAX_KEPT characters saying how many more there were: a megabyte's message was kept whole, for each attempt. */
export function keptText(text: string): string {
  return text.length > MAX_KEPT ? `${text.slice(0, MAX_KEPT)}… (${text.length - MAX_KEPT} more characters not kept)` : text;
}
