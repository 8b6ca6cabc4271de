import type { Outcome } from '../http/outcome.js';

/** nginx's "client closed request", which its logs (and Prometheus exporters fed from them) record for a client gone before the response; Coda's `ClientDisconnected` has it too. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The status the metrics and the access log record for a response: the one
 * sent, or 499 when the client left before the head went out (nothing was
 * sent; the status the app chose never reached anyone).
 */
export function recordedStatus(outcome: Outcome): number {
  return outcome.headersSent === false ? CLIENT_CLOSED_REQUEST : outcome.status;
}
