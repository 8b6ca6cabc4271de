import { logsAt, type Logger } from '../log/logger.js';
import { writeSafely } from '../log/safe-log.js';
import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import { recordedStatus } from './recorded-status.js';

/**
 * One line per request at `info`, once its response is done:
 * `GET /notes/7 200 1.42 ms`, with the method, route pattern, path, status,
 * duration, bytes sent, request id and client address as fields (and
 * `aborted` when the client went first; the status 499 when it went before
 * the head was sent; `cutOff` when the server ended it, saying why). Nothing is built when the logger does not write `info`.
 */
export function logAccess(logger: Logger, request: HttpRequest, outcome: Outcome): void {
  if (!logsAt(logger, 'info')) return;
  const status = recordedStatus(outcome);
  const durationMs = Math.round((outcome.finishedAt - outcome.startedAt) * 100) / 100;
  const line: Record<string, unknown> = {
    requestId: request.id, method: request.method, route: request.route ?? null, path: request.path,
    status, durationMs, bytes: outcome.bytesSent,
    // Every common format names the client (CLF's %h, nginx's $remote_addr, Fastify's remoteAddress): here as request.ip, through trusted proxies only.
    remoteAddress: request.ip,
  };
  if (outcome.aborted) line.aborted = true;
  if (outcome.cutOff !== undefined) line.cutOff = outcome.cutOff;
  // A logger that throws (a serializer, a mixin, its destination) must not take the process down: this runs in Node's 'finish' listener.
  writeSafely(logger, 'info', line, `${request.method} ${request.path} ${status} ${durationMs} ms${ending(outcome)}`);
}

/** Who ended a response not sent whole: the server (and why), or the client. */
function ending(outcome: Outcome): string {
  if (outcome.cutOff !== undefined) return ` (cut off by the server: ${outcome.cutOff})`;
  return outcome.aborted ? ' (client went away)' : '';
}
