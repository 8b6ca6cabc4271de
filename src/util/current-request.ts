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
 * The caller's context is back when it returns, whole: what `fn` entered in
 * other stores too (an agent's `enterWith()`), which `storage.run()` would
 * leave in place.
 */
export function inRequest<A, R>(current: object, asyncContext: boolean, fn: (arg: A) => R, arg: A): R {
  const outer = running;
  running = current;
  try {
    // Already in the request's context (a task registered in its request): no new frame.
    if (!asyncContext || storage.getStore() === current) return fn(arg);
    return new AsyncResource('coda.request').runInAsyncScope(enter<A, R>, null, current, fn, arg);
  } finally {
    running = outer;
  }
}

function enter<A, R>(current: object, fn: (arg: A) => R, arg: A): R {
  storage.enterWith(current);
  return fn(arg);
}

/**
 * `inRequest` for a request listener that Node's server calls (those
 * `serve()` installs), where the request's context is entered and left in
 * place: Node calls each of its parser's callbacks in a scope that puts the
 * outer context frame back, whole, when it returns, and putting it back here
 * costs more than entering (an `AsyncResource` scope's push and pop, ~2,000
 * instructions of a hello request, see bench/profile-notes.md). Without
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
