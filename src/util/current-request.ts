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
 * Whether AsyncLocalStorage keeps its stores in async context frames (Node
 * 24's default): a store entered inside a resource's scope is gone when the
 * scope ends. On async_hooks (Node 22's default) it stays on the resource.
 */
export const scopedByFrames = ((): boolean => {
  const probe = new AsyncLocalStorage<true>();
  const scope = new AsyncResource('coda.probe');
  scope.runInAsyncScope(() => probe.enterWith(true));
  const kept = scope.runInAsyncScope(() => probe.getStore());
  probe.disable();
  return kept === undefined;
})();

/**
 * Calls `fn(arg)` as code of `current`'s request: synchronously always, and
 * through the async call tree too when `asyncContext` is on (AsyncLocalStorage).
 * The caller's context is back when it returns.
 */
export function inRequest<A, R>(current: object, asyncContext: boolean, fn: (arg: A) => R, arg: A): R {
  const outer = running;
  running = current;
  try {
    // run() makes no frame when already in the request's context (a task registered in its request).
    return asyncContext ? storage.run(current, fn, arg) : fn(arg);
  } finally {
    running = outer;
  }
}

/**
 * `inRequest` for a request listener that Node's server calls (those
 * `serve()` installs), where the request's context is entered and left in
 * place: Node calls its listeners in a callback scope that puts the outer
 * context frame back when it returns, and leaving the context costs as much
 * as entering it (a copy of the frame; some 3% of a small request, see
 * bench/profile-notes.md). What Node runs after the listener in the same
 * scope (the request's own body events) runs as the request's code. Without
 * frames the store would stay on Node's parser, which serves other
 * connections later: there this is `inRequest`.
 */
export function enterRequest<A, R>(current: object, asyncContext: boolean, fn: (arg: A) => R, arg: A): R {
  if (!asyncContext || !scopedByFrames) return inRequest(current, asyncContext, fn, arg);
  const outer = running;
  running = current;
  try {
    storage.enterWith(current);
    return fn(arg);
  } finally {
    running = outer;
  }
}

/** What `inRequest` set for the code running now, if anything. */
export function currentRequest(): object | undefined {
  return running ?? storage.getStore();
}
