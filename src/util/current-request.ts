import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';

/**
 * What the code running now belongs to: the exchange of the request whose
 * async call tree we are in (views, middleware, streamed bodies, tasks; see
 * after/context.ts, which sets it). It lives at the lowest layer so that
 * every layer can reach its request (a response's `after()` does, in
 * http/response.ts) without importing the layers above.
 */
const storage = new AsyncLocalStorage<object>();

// The request whose code is running synchronously right now. Microtasks and
// callbacks never run inside a synchronous call, so this is never stale; it
// finds the request without AsyncLocalStorage for the common case of after()
// called before any await.
let running: object | undefined;

/**
 * Calls `fn(arg)` as code of `current`'s request: synchronously always, and
 * through the async call tree too when `asyncContext` is on (AsyncLocalStorage).
 */
export function inRequest<A, R>(current: object, asyncContext: boolean, fn: (arg: A) => R, arg: A): R {
  const outer = running;
  running = current;
  try {
    // Already in the request's context (a task registered in its request): no new frame.
    if (!asyncContext || storage.getStore() === current) return fn(arg);
    // Not storage.run(): it leaves by entering the outer store anew, a second copy of the context;
    // an AsyncResource's scope puts the outer context itself back (a third of run()'s instructions).
    return new AsyncResource('coda.request').runInAsyncScope(enter<A, R>, null, current, fn, arg);
  } finally {
    running = outer;
  }
}

function enter<A, R>(current: object, fn: (arg: A) => R, arg: A): R {
  storage.enterWith(current);
  return fn(arg);
}

/** What `inRequest` set for the code running now, if anything. */
export function currentRequest(): object | undefined {
  return running ?? storage.getStore();
}
