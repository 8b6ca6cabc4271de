import { describe } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';

export type ResponseBody = string | Uint8Array | null;

/** Whether `value` is a body a fixed response can carry. */
export function isResponseBody(value: unknown): value is ResponseBody {
  return typeof value === 'string' || value === null || value instanceof Uint8Array;
}

/** What is wrong with a body that is not a `ResponseBody`, for error messages. */
export function wrongBody(value: unknown): string {
  const json = Array.isArray(value) || (typeof value === 'object' && value !== null && value.constructor === Object);
  const hint = forgottenAwait(value) ? ' (await it first)' : json ? ' (for JSON, return new JsonResponse(value))' : '';
  return `a response body must be a string, a Uint8Array or null, got ${describe(value)}${hint}`;
}

/**
 * Whether `value`, given for a body, is a promise (an await forgotten before `request.text()` or `parseQuery()`).
 * A native one's rejection is marked handled: the error refusing it says what happened, and, unhandled, the rejection
 * ended the process.
 */
export function forgottenAwait(value: unknown): boolean {
  if (!isPromise(value)) return false;
  if (value instanceof Promise) value.catch(() => {});
  return true;
}
