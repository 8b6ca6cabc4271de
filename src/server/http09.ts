import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from '../observe/refusal.js';
import { refuseHttp1 } from './refuse-http1.js';

/** The 505's words, as the access log records them and the body says. */
export const HTTP09_REASON = 'a request line without an HTTP version (HTTP/0.9) is not served: this server speaks HTTP/1.0 and HTTP/1.1';

/**
 * Answers 400, and closes the connection, for an HTTP/0.9 request (a request
 * line with no version, or `HTTP/0.9`); returns whether it did. HTTP/0.9 has
 * no header fields and no body, but llhttp reads both after such a line (a
 * bare LF ending it too), and Node answers it as HTTP/1.1: a proxy in front
 * that reads the line alone, as HTTP/0.9 has it, takes the fields and body
 * for what follows. Go's server refuses it (400), and RFC 9112 2.3 gives it
 * no place: a malformed request line (most are a mangled `HTTP/1.1`), not a
 * version to negotiate, so a 400 as Go's, not a 505.
 */
export function refuseHttp09(request: IncomingMessage, response: ServerResponse, refused: (refusal: Refusal) => void): boolean {
  if (request.httpVersionMajor !== 0) return false;
  refuseHttp1(request, response, 400, `${HTTP09_REASON} (RFC 9112 2.3)\n`, HTTP09_REASON, refused);
  return true;
}
