import { inspect } from 'node:util';
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

  constructor(description: string, cause: unknown) {
    super(`${description} is unavailable: ${errorMessage(cause)}`, { cause });
  }

  override get name(): string {
    return 'StoreUnavailable';
  }
}

/**
 * How a thrown value is kept as text (an attempt's error, a response's
 * outcome): an Error's name and message, a string as it is, any other value
 * inspected (`{ code: 42 }`, not `[object Object]`; an object without a
 * prototype too, which `String()` throws on), so that it says what was thrown;
 * at most MAX_KEPT characters of it.
 */
export function thrownMessage(error: unknown): string {
  if (error instanceof Error) return keptText(`${error.name}: ${error.message}`);
  if (typeof error === 'string') return keptText(error);
  return keptText(inspect(error, { depth: 3, breakLength: Infinity, maxStringLength: 1000, maxArrayLength: 20 }));
}

/** The most of an error's text (its message, its stack) the store keeps: every attempt's is kept, and read with its task. */
const MAX_KEPT = 10_000;

/** `text`, cut to MAX_KEPT characters saying how many more there were: a megabyte's message was kept whole, for each attempt. */
export function keptText(text: string): string {
  return text.length > MAX_KEPT ? `${text.slice(0, MAX_KEPT)}… (${text.length - MAX_KEPT} more characters not kept)` : text;
}
