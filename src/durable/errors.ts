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
 * prototype too, which `String()` throws on), so that it says what was thrown.
 */
export function thrownMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  return inspect(error, { depth: 3, breakLength: Infinity, maxStringLength: 1000, maxArrayLength: 20 });
}
