import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import type { Exchange } from '../after/exchange.js';
import type { Outcome } from '../http/response.js';

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
  return outcome;
}
