import type { ServerResponse } from 'node:http';
import type { Exchange } from '../../after/exchange.js';
import { StreamingResponse } from '../../http/response.js';
import { kNodeHeaders, kNonAscii } from '../../symbols.js';
import { bodiless, releaseStream, unsendableBody } from '../body.js';
import { declaredLength, dropTransferEncoding, frameBodiless } from '../framing.js';
import { pump } from './pump.js';

/**
 * Writes `response` to Node's `ServerResponse`: fixed bodies in one `end()`
 * with their Content-Length, streams chunk by chunk (see pump.ts). Coda owns
 * the framing headers (see framing.ts). Throws, before writing anything, when
 * the response cannot be sent as it is (a body of the wrong type, a stream
 * that cannot be opened or declares a Content-Length that is not one): the
 * caller answers 500 instead (see refused.ts).
 */
export function send(res: ServerResponse, exchange: Exchange): void {
  const response = exchange.response!;
  if (response instanceof StreamingResponse) {
    sendStream(res, exchange, response);
    return;
  }
  let body = response.body;
  let length: number;
  if (typeof body === 'string') {
    // Node writes a string body in one write with the head, in the body's
    // encoding (UTF-8): as bytes, the body goes apart and the head in Latin-1.
    if (response.headers[kNonAscii]) body = Buffer.from(body);
    length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  } else if (body === null) {
    length = 0;
  } else if (body instanceof Uint8Array) {
    length = body.byteLength;
  } else {
    throw unsendableBody(body);
  }
  const { status } = response;
  const headers = response.headers[kNodeHeaders]();
  dropTransferEncoding(headers);
  if (bodiless(status)) {
    frameBodiless(headers, status);
    res.writeHead(status, headers);
    res.end();
    return;
  }
  if (exchange.request.method === 'HEAD') {
    // The length a GET would get; an empty HEAD response keeps the one its view declared.
    if (body !== null || headers['content-length'] === undefined) headers['content-length'] = String(length);
    res.writeHead(status, headers);
    res.end();
    return;
  }
  headers['content-length'] = String(length);
  res.writeHead(status, headers);
  res.end(body);
  exchange.bytesSent = length;
}

function sendStream(res: ServerResponse, exchange: Exchange, response: StreamingResponse): void {
  if (res.closed) {
    // The client went away while the view was working: nothing will read the stream.
    releaseStream(response);
    return;
  }
  const { status } = response;
  const headers = response.headers[kNodeHeaders]();
  dropTransferEncoding(headers);
  if (exchange.request.method === 'HEAD' || bodiless(status)) {
    if (bodiless(status)) frameBodiless(headers, status);
    res.writeHead(status, headers);
    // Node drops the writes without backpressure: pumping would read the
    // whole stream for nothing, forever if it never ends.
    res.end();
    releaseStream(response);
    return;
  }
  const declared = declaredLength(headers);
  const source = response.stream;
  res.writeHead(status, headers);
  pump(res, exchange, response, source, declared);
}
