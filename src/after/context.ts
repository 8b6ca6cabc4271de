import { AsyncLocalStorage } from 'node:async_hooks';
import type { HttpRequest } from '../http/request.js';
import type { AfterOptions, AfterTask } from './types.js';

/** The request whose async call tree we are in: set for views, middleware and after-response tasks. */
const requestContext = new AsyncLocalStorage<HttpRequest>();

// The request whose code is running synchronously right now. Microtasks and
// callbacks never run inside a synchronous call, so this is never stale; it
// finds the request without AsyncLocalStorage for the common case of after()
// called before any await.
let running: HttpRequest | undefined;

/**
 * Calls `fn(arg)` as code of `request`: synchronously always, and through the
 * async call tree too when `asyncContext` is on (AsyncLocalStorage).
 */
export function inRequest<A, R>(request: HttpRequest, asyncContext: boolean, fn: (arg: A) => R, arg: A): R {
  const outer = running;
  running = request;
  try {
    return asyncContext ? requestContext.run(request, fn, arg) : fn(arg);
  } finally {
    running = outer;
  }
}

/**
 * Runs `task` after the current request's response has been sent, from
 * anywhere in the request's async call tree (like Next.js `after()`).
 *
 * Called before the response is finished, the task joins the request's
 * after-response work. Called later (from a task, or from work the view left
 * running), it is queued at once with the outcome already known.
 *
 * @example
 * ```ts
 * async function saveNote(request) {
 *   const note = await store.save(await request.json());
 *   after(() => search.index(note), { name: 'index-note' });
 *   return new JsonResponse(note, { status: 201 });
 * }
 * ```
 */
export function after(task: AfterTask, options?: AfterOptions): void {
  const request = running ?? requestContext.getStore();
  if (request === undefined) {
    throw new Error(
      'after() was called outside a request: call it from a view, a middleware or an after-response task, or use response.after() '
      + '(with createApp({ asyncContext: false }), after() finds its request only before the first await)',
    );
  }
  if (typeof task !== 'function') throw new TypeError(`after() takes a function, got ${typeof task}`);
  request.addAfter({ task, options });
}
