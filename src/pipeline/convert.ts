import { ProgrammingError } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { HttpResponse } from '../http/response.js';
import { fromWebResponse } from '../http/web-response.js';
import { describe } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import type { Handler, MaybePromise } from './types.js';

/** Turns an error into the response it stands for, and logs it naming `culprit` ("view showNote"), the code it came from. */
export type ErrorRenderer = (request: HttpRequest, error: unknown, culprit: string) => MaybePromise<HttpResponse>;

/**
 * Whether a `processRequest`, `processView` or `processException` hook's
 * value answers nothing, and the request goes on: Django tests the value's
 * truth (`response or get_response(request)`, `if response:`), so a falsy
 * value is no answer, as None is (`return !user && redirect('/login')`).
 */
export function isNoAnswer(value: unknown): boolean {
  return !value;
}

/**
 * `value` as an `HttpResponse` (a Web `Response` is converted), or a
 * `ProgrammingError` naming `culprit` and what it returned (middleware.md R6, R7),
 * then what `context` says (what else the log must not lose; worked out only then).
 */
export function asResponse(value: unknown, culprit: string, context?: () => string): HttpResponse {
  if (value instanceof HttpResponse) return value;
  if (value instanceof Response) return fromWebResponse(value);
  throw new ProgrammingError(`${culprit} returned ${describe(value)}, expected a response${context === undefined ? '' : context()}${culprit.startsWith('middleware ') ? '' : suggestion(value)}`);
}

/** What Fastify and Hono users return from a view (a value to send as JSON, a string as text), and the response that sends it. */
function suggestion(value: unknown): string {
  if (typeof value === 'string') return ' (for text, return new HttpResponse(value))';
  if (value === null || typeof value !== 'object') return '';
  const prototype: unknown = Object.getPrototypeOf(value);
  return Array.isArray(value) || prototype === Object.prototype || prototype === null ? ' (for JSON, return new JsonResponse(value))' : '';
}

/** `value` as an `HttpResponse`, or, when it is none, the error response that says so (rendered naming `culprit`). */
export function responseOr(request: HttpRequest, value: unknown, culprit: string, render: ErrorRenderer): MaybePromise<HttpResponse> {
  try {
    return asResponse(value, culprit);
  } catch (error) {
    return render(request, error, culprit);
  }
}

/**
 * Django's `convert_exception_to_response`, "the thin film between each layer
 * of the onion": whatever `inner` throws or rejects with, or returns that is
 * not a response, the layer outside sees only a response.
 */
export function convertErrors(
  inner: (request: HttpRequest) => MaybePromise<unknown>,
  culprit: string,
  render: ErrorRenderer,
): Handler {
  return (request) => {
    let result: unknown;
    try {
      result = inner(request);
      if (!isPromise(result)) return asResponse(result, culprit);
    } catch (error) {
      return render(request, error, culprit);
    }
    return Promise.resolve(result).then(
      (value) => responseOr(request, value, culprit, render),
      (error: unknown) => render(request, error, culprit),
    );
  };
}
