import { Buffer } from 'node:buffer'; // not the global, a getter Node runs on every read
import type { Exchange } from '../../after/exchange.js';
import type { HttpResponse } from '../../http/response.js';
import { StreamingResponse } from '../../http/streaming-response.js';
import { kNodeHeaders, kNonAscii } from '../../symbols.js';
import { checkSentBodyText, claimStream, releaseStream, unsendableBody } from '../body.js';
import { declaredLength, dropConnectionHeaders, dropHttp1Framing, frameFixed, frameStream } from '../framing.js';
import { replaceRefused } from '../refused.js';
import { pump } from './pump.js';
import { isClosed, type NodeResponse } from './response.js';

/**
 * Writes `response` to Node's `ServerResponse`: fixed bodies in one `end()`
 * with their Content-Length, streams chunk by chunk (see pump.ts). Coda owns
 * the framing headers (see framing.ts). Throws, before writing anything, when
 * the response cannot be sent as it is (a body of the wrong type, a stream
 * that cannot be opened or declares a Content-Length that is not one): the
 * caller answers 500 instead (see refused.ts). `http2`: `res` is an HTTP/2
 * stream's, whose head must hold no connection-specific field.
 */
export function send(res: NodeResponse, exchange: Exchange, http2: boolean): void {
  const response = exchange.response!;
  if (response instanceof StreamingResponse) {
    sendStream(res, exchange, response, http2);
    return;
  }
  // The client reset the HTTP/2 stream while the view worked: nothing can be sent (node:http drops such writes).
  if (http2 && isClosed(res, true)) return;
  let body = response.body;
  let length: number;
  if (typeof body === 'string') {
    const text = body;
    // Node writes a string body in one write with the head, in the body's
    // encoding (UTF-8): as bytes, the body goes apart and the head in Latin-1.
    if (response.headers[kNonAscii]) body = Buffer.from(body);
    length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    checkSentBodyText(response, text, length);
  } else if (body === null) {
    length = 0;
  } else if (body instanceof Uint8Array) {
    length = body.byteLength;
  } else {
    throw unsendableBody(body);
  }
  const { status } = response;
  const headers = head(response, http2);
  const withBody = frameFixed(headers, exchange.request.method, status, body !== null, length);
  res.writeHead(status, headers);
  if (!withBody) {
    res.end();
    return;
  }
  res.end(body);
  exchange.bytesSent = length;
}

function sendStream(res: NodeResponse, exchange: Exchange, response: StreamingResponse, http2: boolean): void {
  claimStream(response);
  if (isClosed(res, http2)) {
    // The client went away while the view was working: nothing will read the stream.
    releaseStream(response);
    return;
  }
  const { status } = response;
  const headers = head(response, http2);
  if (!frameStream(headers, exchange.request.method, status)) {
    res.writeHead(status, headers);
    // Node drops the writes without backpressure: pumping would read the
    // whole stream for nothing, forever if it never ends.
    res.end();
    releaseStream(response);
    return;
  }
  const declared = declaredLength(headers);
  const source = response.stream;
  pump(res, exchange, response, source, declared, { status, headers }, (error) => {
    // No stack in the body: the transport does not know the app's debug mode, and the log line has it.
    replaceRefused(exchange, error, false, 'the streaming response\'s source');
    send(res, exchange, http2);
  });
}

/** The header record for `writeHead`, without the framing fields the app may not set on this protocol (see framing.ts). */
function head(response: HttpResponse, http2: boolean): Record<string, string | string[]> {
  const headers = response.headers[kNodeHeaders]();
  if (http2) dropConnectionHeaders(headers);
  else dropHttp1Framing(headers);
  return headers;
}
