import type { HttpRequest } from '../http/request.js';
import type { HttpResponse, Outcome } from '../http/response.js';

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
  processRequest?(request: HttpRequest): MaybePromise<ViewResult | void | undefined | null>;
  processView?(request: HttpRequest, view: View, params: Record<string, string>): MaybePromise<ViewResult | void | undefined | null>;
  processException?(request: HttpRequest, error: unknown): MaybePromise<ViewResult | void | undefined | null>;
  processResponse?(request: HttpRequest, response: HttpResponse): MaybePromise<ViewResult>;
  afterResponse?(request: HttpRequest, response: HttpResponse, outcome: Outcome): void | Promise<void>;
}

/** An entry of `middleware` (the app's, or an `include()`'s): a factory, or an object with hooks. */
export type Middleware = MiddlewareFactory | MiddlewareHooks;
