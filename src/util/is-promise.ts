/**
 * True for promises and other thenables. The pipeline continues at once with a
 * plain value and chains only on a promise: synchronous hooks allocate none.
 */
export function isPromise<T>(value: T | PromiseLike<T> | unknown): value is PromiseLike<T> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
