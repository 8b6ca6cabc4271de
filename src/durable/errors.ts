import { describe, errorMessage } from '../util/describe.js';

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
  readonly code = 'CODA_STORE_UNAVAILABLE';

  constructor(description: string, cause: unknown) {
    super(`${description} is unavailable: ${errorMessage(cause)}`, { cause });
  }

  override get name(): string {
    return 'StoreUnavailable';
  }
}

/**
 * How an attempt's error is kept: an Error's name and message, any other
 * thrown value as text; one that cannot be made text (an object without a
 * prototype) described, so that the failure is still recorded.
 */
export function attemptErrorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return String(error);
  } catch {
    return describe(error);
  }
}
