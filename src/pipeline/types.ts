import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import type { HttpResponse } from '../http/response.js';

/** A value now, or later. Hooks that answer synchronously keep the pipeline synchronous. */
export type MaybePromise<T> = T | Promise<T>;

/** What a view may return: Coda's response or a Web-standard `Response`. */
export type ViewResult = HttpResponse | Response;

/** A view: a request in, a response out. Path parameters are on `request.params`. */
export type View<Params extends Record<string, string> = Record<string, string>> = (
  request: HttpRequest<Params>,
) => MaybePromise<ViewResult>;

/** One layer of the onion, as seen from the layer outside it. */
export type Handler = (request: HttpRequest) => MaybePromise<HttpResponse>;

/**
 * Django's "new-style" middleware: called once when the app is built with the
 * next handler, returns a handler. May throw `MiddlewareNotUsed` to leave itself out.
 *
 * @example
 * ```ts
 * const timing: MiddlewareFactory = (getResponse) => async (request) => {
 *   const t0 = performance.now();
 *   const response = await getResponse(request);
 *   response.headers.set('server-timing', `app;dur=${performance.now() - t0}`);
 *   return response;
 * };
 * ```
 */
export type MiddlewareFactory = (getResponse: Handler) => (request: HttpRequest) => MaybePromise<ViewResult>;

/** What a hook returns to answer nothing: Django's None, or any value whose truth is false there (`!user && redirect('/login')`). */
export type NoAnswer = void | undefined | null | false;

/**
 * Django's `MiddlewareMixin`: an object (a class instance is fine) with some of
 * these hooks. Each may return a value or a promise. See docs/lifecycle.md.
 *
 * @example
 * ```ts
 * const requireLogin: MiddlewareHooks = {
 *   name: 'requireLogin',
 *   processRequest(request) {
 *     if (!request.cookies.get('session')) return redirect('/login');
 *   },
 * };
 * ```
 */
export interface MiddlewareHooks {
  /** Names the middleware in logs and error messages (else its class name). */
  readonly name?: string;
  /** A response answers (skipping what is inside); no answer (`undefined`, `null`, `false`: Django tests its truth) goes on inward. */
  processRequest?(request: HttpRequest): MaybePromise<ViewResult | NoAnswer>;
  /** A response is sent instead of calling the view; no answer goes on to the next hook, then the view. */
  processView?(request: HttpRequest, view: View, params: Record<string, string>): MaybePromise<ViewResult | NoAnswer>;
  /** A response answers for the view's error; no answer leaves it to the next hook, then the error's own response. */
  processException?(request: HttpRequest, error: unknown): MaybePromise<ViewResult | NoAnswer>;
  processResponse?(request: HttpRequest, response: HttpResponse): MaybePromise<ViewResult>;
  afterResponse?(request: HttpRequest, response: HttpResponse, outcome: Outcome): void | PromiseLike<unknown>;
}

/** An entry of `middleware` (the app's, or an `include()`'s): a factory, or an object with hooks. */
export type Middleware = MiddlewareFactory | MiddlewareHooks;
