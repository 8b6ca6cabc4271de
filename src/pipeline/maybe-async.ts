import type { MaybePromise } from './types.js';

/** True for promises and other thenables. */
export function isPromise<T>(value: MaybePromise<T> | unknown): value is PromiseLike<T> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * `next(request, value)` now if `value` is ready, or when it settles: the
 * pipeline stays synchronous, and allocates no promise, while every hook is.
 */
export function then<A, V, R>(value: MaybePromise<V>, next: (arg: A, value: V) => MaybePromise<R>, arg: A): MaybePromise<R> {
  if (isPromise<V>(value)) return Promise.resolve(value).then((settled) => next(arg, settled));
  return next(arg, value);
}
