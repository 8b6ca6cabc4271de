import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import type { Exchange } from '../after/exchange.js';
import type { Outcome } from '../http/outcome.js';

/** Why the server ended a request shutdown gave up on while its view was still at work (see `givenUpOutcome`). */
const GIVEN_UP = 'its view was still running when shutdown gave up on it';

/**
 * The outcome of a request shutdown gave up on while its view was still at
 * work: nothing was sent (its connection closed, or about to be), and the
 * server, not the client, ended it. Its status stands for the answer it
 * never had; what is recorded is that none was sent.
 */
export function givenUpOutcome(exchange: Exchange): Outcome {
  const outcome = outcomeOf(exchange, false, 503, false);
  outcome.cutOff = GIVEN_UP;
  return outcome;
}

/** An exchange's `Outcome`, built the same way by every transport once its response is done; `headersSent`: whether its head went out (over a socket, Node's word; for app.fetch(), whether the Response was made before its client left; in-process, whether the view answered before the test stopped waiting). */
export function outcomeOf(exchange: Exchange, completed: boolean, status = exchange.response!.status, headersSent = true): Outcome {
  const outcome: Outcome = {
    status,
    headersSent,
    completed,
    aborted: !completed,
    bytesSent: exchange.bytesSent,
    startedAt: exchange.startedAt,
    finishedAt: performance.now(),
  };
  if (exchange.error !== undefined) outcome.error = exchange.error;
  if (!completed && exchange.cutOff !== undefined) outcome.cutOff = exchange.cutOff;
  return outcome;
}
