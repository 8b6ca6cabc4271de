import { constants, Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { kCutOff } from '../symbols.js';
import { TIMED_OUT, type NodeResponse } from '../transport/node/response.js';
import { answerAndCloseStream } from './answer-stream.js';
import type { Handler } from './header-list.js';

/** The parts of node:http2's stream read here: `_readableState.ended` is set when the client's END_STREAM arrives, whether or not the body was read. */
interface RequestStream {
  readonly closed: boolean;
  readonly endAfterHeaders: boolean;
  readonly _readableState: { readonly ended: boolean };
  close(code: number): void;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * `handler`, but an HTTP/2 request whose body has not all arrived
 * `timeoutMs` after its head is answered 408 and its stream closed, as
 * node:http's `requestTimeout` answers an HTTP/1.1 request: node:http2 has no
 * such limit, so a client sending its body slowly, or never ending it, held
 * a view reading it (and a stream of its session) for ever, on as many
 * streams as it opened. What the view was reading fails as a client gone,
 * its exchange ends aborted and its answer is dropped. A request with no body
 * (END_STREAM on its HEADERS) costs nothing; 0 turns the limit off.
 */
export function limitRequestTime(handler: Handler, timeoutMs: number): Handler {
  if (timeoutMs === 0) return handler;
  return (request, response) => {
    if (request instanceof Http2ServerRequest) {
      const stream = request.stream as unknown as RequestStream;
      if (!stream.endAfterHeaders) {
        const timer = setTimeout(expire, timeoutMs, request, response as Http2ServerResponse);
        stream.once('close', () => clearTimeout(timer));
      }
    }
    handler(request, response);
  };
}

function expire(request: Http2ServerRequest, response: Http2ServerResponse): void {
  const stream = request.stream as unknown as RequestStream;
  if (stream.closed || stream._readableState.ended) return;
  // node:http2 ends the request's body when the stream closes, as though it had all arrived: the body readers must see it did not.
  Object.defineProperty(request, 'complete', { value: false });
  // Not the app's answer: its exchange ends aborted (with the 408, when that went out), and what it answers later is not sent (see transport/node/response.ts).
  if (response.headersSent) {
    (response as NodeResponse)[kCutOff] = { reason: TIMED_OUT };
    stream.close(constants.NGHTTP2_CANCEL);
  } else {
    (response as NodeResponse)[kCutOff] = { status: 408, reason: TIMED_OUT };
    answerAndCloseStream(response, 408, `${TIMED_OUT}\n`);
  }
}
