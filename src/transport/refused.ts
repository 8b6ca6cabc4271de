import type { Exchange } from '../after/exchange.js';
import { errorResponse, logError, renderError } from '../http/error-response.js';
import { ServiceUnavailable } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { kAfterEntries } from '../symbols.js';
import { errorMessage } from '../util/describe.js';
import { releaseStream, SentAlready } from './body.js';

/**
 * The transport refused to send the exchange's response before writing any of
 * it (see send.ts): the 500 that replaces it, logged by `renderError` with what
 * was wrong. The tasks registered on the refused response run with the 500;
 * its stream, if any, is released (unless it is another send's: a response sent before).
 */
export function replaceRefused(exchange: Exchange, error: unknown, debug: boolean, culprit?: string): HttpResponse {
  const refused = exchange.response!;
  let sentAlready: boolean;
  try {
    sentAlready = error instanceof SentAlready;
  } catch (failure) {
    // A value whose reading throws (a Proxy's traps): what reading it threw is answered and logged, as the pipeline does.
    error = failure;
    sentAlready = false;
  }
  // A stream sent before is the other send's: another client may be reading it still.
  if (refused instanceof StreamingResponse && !sentAlready) releaseStream(refused);
  const response = renderError(exchange.request, error, debug, culprit);
  response[kAfterEntries] = refused[kAfterEntries];
  exchange.response = response;
  exchange.error = error;
  return response;
}

/**
 * The 503 sent instead of a response whose durable tasks the store could not
 * take: it names the store's failure. Logged at debug level: the journal logs
 * the store's outage once, then sums it up, rather than a line per request.
 */
export function unjournaled(request: HttpRequest, error: unknown, debug: boolean): HttpResponse {
  const refusal = new ServiceUnavailable(`the request's durable tasks could not be journaled: ${errorMessage(error)}`);
  logError(request, refusal, undefined, true);
  return errorResponse(request, refusal, debug);
}
