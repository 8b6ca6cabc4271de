import { AsyncResource } from 'node:async_hooks';
import type { onRequestHookHandler, RouteOptions } from 'fastify';

/**
 * A route with a `handlerTimeout` (its own, or the server's), from the
 * plugin's `onRoute` hook: given an `onRequest` hook of its own (see
 * `signalInContext`). Other routes get none: their requests pay nothing.
 */
export function signalsInContext(route: RouteOptions, serverTimeout: number | undefined): void {
  if (!((route.handlerTimeout ?? serverTimeout ?? 0) > 0)) return;
  const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
  // First: the route's own hooks read the request's signal too.
  route.onRequest = [signalInContext, ...hooks];
}

/**
 * `request.signal`, on a route with a `handlerTimeout`, made a signal that
 * follows Fastify's and runs its listeners (an `AbortSignal.any()` of it
 * too) in the request's async context: Fastify aborts its own from the timer
 * it set as it routed the request, before any hook, outside that context,
 * though its listeners are code of the request (`after()` threw there). A
 * route's `onRequest` hook runs after the plugin's, in that context.
 * Fastify's getter cannot be redefined on its class (it is not
 * configurable): the request gets one of its own. Synchronous, as Fastify's
 * abort: a listener that sends the reply does so before Fastify's timer goes
 * on to answer.
 */
const signalInContext: onRequestHookHandler = (request, _reply, done) => {
  const theirs = request.signal;
  if (!theirs.aborted) {
    const ours = new AbortController();
    const scope = new AsyncResource('coda.fastify.signal');
    theirs.addEventListener('abort', () => scope.runInAsyncScope(() => ours.abort(theirs.reason)), { once: true });
    Object.defineProperty(request, 'signal', { value: ours.signal, configurable: true });
  }
  done();
};
