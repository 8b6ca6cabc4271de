import { logsAt, type Logger } from '../log/logger.js';
import { writeSafely } from '../log/safe-log.js';

/**
 * A request the server refused before the app saw it (Node's parser refused
 * it, it did not arrive in time, it was past a header limit, a CONNECT, an
 * Expect other than 100-continue), as the access log and the metrics
 * record it. Nothing in it is a byte the client sent: its words are the
 * server's and llhttp's own.
 */
export interface Refusal {
  status: number;
  /** What was wrong, as the answer's body says it: `the request is malformed: Invalid header value char`. */
  reason: string;
  /** Node's code for it: `HPE_INVALID_HEADER_TOKEN`, `ERR_HTTP_REQUEST_TIMEOUT`. */
  code: string | undefined;
  /** The peer's address, from the kernel. */
  remoteAddress: string | undefined;
}

/** The refusal of a request on `connection`; `reason` in the server's words (a trailing newline, a body's, dropped). */
export function refusalOf(status: number, reason: string, connection: { remoteAddress?: string | undefined } | null | undefined, code?: string): Refusal {
  return { status, reason: reason.trimEnd(), code, remoteAddress: connection?.remoteAddress };
}

/** The access log's line for a refusal, at `info` as a request's: `request refused before the app: 400 the request is malformed: …`. */
export function logRefusal(logger: Logger, { status, reason, code, remoteAddress }: Refusal): void {
  if (!logsAt(logger, 'info')) return;
  writeSafely(logger, 'info', { status, code, remoteAddress }, `request refused before the app: ${status} ${reason}`);
}
