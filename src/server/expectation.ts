import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import { lingerOnClose } from '../transport/node/linger.js';

/** The 417's reason, as the access log records it (the body names the client's expectation). */
export const EXPECTATION_REASON = 'an Expect other than 100-continue is not supported';

/** The body of the 417 for `expect`. */
export function expectationAnswer(expect: string): string {
  return `Expect: ${expect} is not supported: the only expectation this server meets is 100-continue\n`;
}

/**
 * An `Expect` other than 100-continue (RFC 9110 10.1.1: 417). Node answers
 * it before the app sees the request, with an empty body; Coda names the
 * expectation (not in its log line: it is the client's bytes). The
 * connection is closed: the client may send its body anyway, and it must not
 * be read as the next request.
 */
export function refuseExpectation(request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse, refused: (refusal: Refusal) => void): void {
  if (response instanceof ServerResponse) {
    response.shouldKeepAlive = false;
    lingerOnClose(response.req);
  }
  response.statusCode = 417;
  response.setHeader('content-type', 'text/plain; charset=utf-8');
  response.end(expectationAnswer(request.headers.expect ?? ''));
  refused(refusalOf(417, EXPECTATION_REASON, request.socket));
}
