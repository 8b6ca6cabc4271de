import type { IncomingMessage, ServerResponse } from 'node:http';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import { lingerOnClose } from '../transport/node/linger.js';
import { serveInTurn } from './pipelining.js';

/** The 400 for a request Node's parser refuses as malformed; llhttp's reason is its own fixed words, never the bytes it refused. */
export function malformed(reason: string): [status: number, text: string] {
  return [400, `the request is malformed: ${reason}`];
}

/**
 * Answers an HTTP/1.1 request the server refuses before the app with
 * `status` and `body` (plain text), closes its connection (what follows its
 * head cannot be trusted to be the next request), and records the refusal
 * with `reason` (the server's words; the body may name the client's bytes).
 * A request pipelined behind another's answer is refused when its turn comes,
 * as a request is served (`serveInTurn`): behind an answer that closes the
 * connection it is neither answered nor recorded (it was recorded as refused,
 * though Node dropped its answer unsent).
 */
export function refuseHttp1(request: IncomingMessage, response: ServerResponse, status: number, body: string, reason: string, refused: (refusal: Refusal) => void): void {
  serveInTurn(request, response, () => {
    response.shouldKeepAlive = false;
    lingerOnClose(request);
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
    refused(refusalOf(status, reason, request.socket));
  });
}
