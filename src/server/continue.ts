import type { IncomingMessage, ServerResponse } from 'node:http';
import { onClosingServer } from '../transport/node/closing-servers.js';
import { lingerOnClose } from '../transport/node/linger.js';
import { announcedLength } from './unread-body.js';

/**
 * Answers `Expect: 100-continue` as Go's net/http does, instead of Node's
 * 100 Continue at once: the 100 goes out when the app first reads the body,
 * so a request refused without reading it (a Content-Length past
 * `bodyLimit`, a 401, a 404) gets its final status and the client never
 * sends the body it announced. Such a response closes the connection: the
 * client may still send that body (late, or without waiting for the 100), and
 * it must not be read as the next request. A request that announces no body
 * (no Content-Length, or 0) is served as any other.
 */
export function continueWhenRead(serve: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // No body to wait for (RFC 9110 10.1.1 forbids the expectation there; Go ignores it): no 100, and nothing that could follow to close for.
    if (announcedLength(req) === 0) {
      // Node closes a connection whose expectation got no 100, unless told it was none.
      (res as { _expect_continue?: boolean })._expect_continue = false;
      serve(req, res);
      return;
    }
    const keepAlive = res.shouldKeepAlive;
    res.shouldKeepAlive = false;
    lingerOnClose(req);
    const read = req._read;
    // The first read of the body, by whatever reads it (a body reader, busboy, `request.raw`).
    req._read = function (this: IncomingMessage, size: number): void {
      req._read = read;
      if (!res.headersSent) {
        // A server closing sends every response with `Connection: close` (see close.ts).
        res.shouldKeepAlive = keepAlive && !onClosingServer(req.socket);
        res.writeContinue();
      }
      read.call(this, size);
    };
    serve(req, res);
  };
}
