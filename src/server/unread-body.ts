import type { IncomingMessage, ServerResponse } from 'node:http';
import { lingerOnClose } from '../transport/node/linger.js';

/** The most of a body left unread that Node may still take after the answer, to read the next request: Go's server drains as much (its maxPostHandlerReadBytes). */
export const DRAIN_LIMIT = 256 * 1024;

/**
 * node:http takes in and throws away the body an answer left unread, to read
 * the next request after it: a client that declared gigabytes to a 404, a
 * 405 or a 401 had the server take them all, for up to `requestTimeoutMs`, on
 * each connection it opened. A request whose body may be larger than
 * `DRAIN_LIMIT` (a Content-Length past it, or chunked) is answered with
 * `Connection: close` when its body has not all arrived by the time the head
 * goes out, as Go's server closes one it would have to read past the limit.
 * A request without a body, or with a small one, costs two lookups.
 */
export function closeUnlessReceived(request: IncomingMessage, response: ServerResponse): void {
  if (announcedLength(request) <= DRAIN_LIMIT) return;
  const writeHead = response.writeHead;
  // Every head goes out through writeHead (Node's implicit one included).
  response.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    if (!request.complete) {
      this.shouldKeepAlive = false;
      lingerOnClose(request);
    }
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
}

/** The body a request announces in its head: its Content-Length, or Infinity when chunked (its length unknown), or 0 with neither. */
export function announcedLength(request: IncomingMessage): number {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length);
  return request.headers['transfer-encoding'] === undefined ? 0 : Infinity;
}
