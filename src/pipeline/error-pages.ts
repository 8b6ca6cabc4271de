import { HttpError } from '../http/errors.js';
import { errorResponse, logError, renderError, statusOf } from '../http/error-response.js';
import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { describe, errorMessage } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import { asResponse, type ErrorRenderer } from './convert.js';
import type { MaybePromise, ViewResult } from './types.js';
import { causeSaidOnce } from '../log/cause-once.js';

/**
 * A view for an error page: the request, and the error it stands for (an
 * `HttpError` for 4xx pages; for the 500 page whatever was thrown).
 */
export type ErrorView<E = unknown> = (request: HttpRequest, error: E) => MaybePromise<ViewResult>;

/**
 * The app's error pages (Django's `handler400`, `handler403`, `handler404`, `handler500`, and 405).
 *
 * @example
 * ```ts
 * createApp({ routes, errorPages: { 404: (request) => new HttpResponse(`nothing at ${request.path}`, { status: 404 }) } });
 * ```
 */
export interface ErrorPages {
  400?: ErrorView<HttpError>;
  403?: ErrorView<HttpError>;
  404?: ErrorView<HttpError>;
  405?: ErrorView<HttpError>;
  500?: ErrorView<unknown>;
}

const STATUSES = ['400', '403', '404', '405', '500'];

/** Refuses error pages for other statuses, and pages that are not functions. */
export function checkErrorPages(pages: unknown): void {
  if (pages === null || typeof pages !== 'object' || Array.isArray(pages)) throw new TypeError(`createApp() errorPages must be an object of views by status, got ${describe(pages)}`);
  for (const [status, view] of Object.entries(pages)) {
    if (!STATUSES.includes(status)) throw new TypeError(`createApp() errorPages: no page for ${JSON.stringify(status)}; pages are for ${STATUSES.join(', ')}`);
    if (typeof view !== 'function') throw new TypeError(`createApp() errorPages: ${status} must be a view function, got ${describe(view)}`);
  }
}

/**
 * The app's error renderer with its error pages: an error whose status has a
 * page is logged as any error is, then answered by the page. The page's
 * response goes out with the error's status when it left the default 200
 * (another status it set, a redirect say, is kept), and with the error's
 * headers (`Allow` on a 405) it did not set. A page that throws, or returns
 * something that is not a response, is logged and the built-in response sent.
 */
export function errorPagesRenderer(pages: ErrorPages, debug: boolean): ErrorRenderer {
  return (request, error, culprit) => {
    const status = statusOf(error);
    const page = (pages as Record<number, ErrorView | undefined>)[status];
    if (page === undefined) return renderError(request, error, debug, culprit);
    logError(request, error, culprit);
    const fail = (pageError: unknown): HttpResponse => {
      request.log.error({ err: causeSaidOnce(pageError), method: request.method, path: request.path, status }, `error page ${status} failed: ${errorMessage(pageError)}; sent the built-in response`);
      return errorResponse(request, error, debug);
    };
    const finish = (value: unknown): HttpResponse => {
      try {
        return adopt(asResponse(value, `error page ${status}`), error, status);
      } catch (pageError) {
        return fail(pageError);
      }
    };
    let result: unknown;
    try {
      result = page(request, error);
    } catch (pageError) {
      return fail(pageError);
    }
    return isPromise(result) ? Promise.resolve(result).then(finish, fail) : finish(result);
  };
}

function adopt(response: HttpResponse, error: unknown, status: number): HttpResponse {
  if (response.status === 200) response.status = status;
  if (error instanceof HttpError) {
    for (const [name, value] of Object.entries(error.headers)) if (!response.headers.has(name)) response.headers.set(name, value);
  }
  return response;
}
