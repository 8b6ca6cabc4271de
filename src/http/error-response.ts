import { kLogs, kRenderedError } from '../symbols.js';
import { HttpError, ProgrammingError, reasonPhrase, STATUS_TEXT } from './errors.js';
import type { HttpRequest } from './request.js';
import { HttpResponse, JsonResponse } from './response.js';
import { ValidationError } from './validation.js';
import { errorMessage } from '../util/describe.js';
import { reportedInOutage } from '../log/outage-log.js';
import { writeSafely } from '../log/safe-log.js';

/**
 * The response an error stands for: an `HttpError`'s status, message and
 * headers, anything else a 500. JSON when the client accepts JSON, else text.
 * A 500 shows its stack only in debug mode. Every 5xx is logged at error level
 * with the request id, 4xx at debug level.
 */
export function renderError(request: HttpRequest, error: unknown, debug: boolean, culprit?: string): HttpResponse {
  logError(request, error, culprit);
  return errorResponse(request, error, debug);
}

/**
 * Logs an error turned into a response: a 5xx at error level, naming `culprit`
 * (the code it came from); a 4xx at debug level, and a 5xx that is `reported`
 * elsewhere already (a store's outage: see OutageLog, which also tells the
 * errors it counted, thrown through a view). The request keeps
 * the error for the test client, whose tests run with the log silent.
 */
export function logError(request: HttpRequest, error: unknown, culprit?: string, reported = false): void {
  request[kRenderedError] = error;
  const status = statusOf(error);
  // A line that throws (a serializer, the destination) must not replace the error response with a crash.
  if (status >= 500 && !reported && !reportedInOutage(error)) {
    if (request[kLogs]('error')) writeSafely(request.log, 'error', { err: error, method: request.method, path: request.path }, describeFailure(error, culprit));
  } else if (request[kLogs]('debug')) {
    writeSafely(request.log, 'debug', { status, method: request.method, path: request.path }, (error as HttpError).message);
  }
}

/** The built-in response for an error, without logging it: see `renderError`. */
export function errorResponse(request: HttpRequest, error: unknown, debug: boolean): HttpResponse {
  const known = error instanceof HttpError;
  const status = statusOf(error);
  let message = known ? error.message : STATUS_TEXT[500]!;
  if (debug && !known) message = error instanceof Error ? (error.stack ?? String(error)) : errorMessage(error);
  const headers = known ? error.headers : undefined;
  const accept = request.headers.get('accept');
  if (accept !== null && accept.includes('json')) {
    const body = error instanceof ValidationError ? { status, message, issues: error.issues } : { status, message };
    return new JsonResponse({ error: body }, { status, headers });
  }
  return new HttpResponse(message, { status, headers });
}

/** The status an error stands for: an `HttpError`'s own, else 500. */
export function statusOf(error: unknown): number {
  return error instanceof HttpError ? error.status : 500;
}

function describeFailure(error: unknown, culprit: string | undefined): string {
  if (error instanceof ProgrammingError) return error.message;
  // An HttpError is the app's answer, chosen (a 503 while a dependency is down), not a failure it did not handle.
  if (error instanceof HttpError) return `${reasonPhrase(error.status) ?? `status ${error.status}`}${culprit === undefined ? '' : ` from ${culprit}`}: ${error.message}`;
  return `unhandled error${culprit === undefined ? '' : ` in ${culprit}`}: ${errorMessage(error)}`;
}
