import { maxHeaderSize, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants, Http2ServerRequest, type Http2ServerResponse } from 'node:http2';

type Handler = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => void;

/**
 * The most an HTTP/2 request's header list may hold, by RFC 9113's count
 * (each field's name and value plus 32 octets, pseudo-headers included):
 * node:http's `maxHeaderSize`, the limit of an HTTP/1.1 request's head
 * (16 KiB unless `--max-http-header-size` says otherwise). Node's own HTTP/2
 * default is 64 KiB, and it enforces even that only once the client has
 * acknowledged the server's SETTINGS.
 */
export const HEADER_LIST_LIMIT = maxHeaderSize;

/** The HTTP/2 settings that advertise the limit; Node resets a stream past it (ENHANCE_YOUR_CALM) once the client has acknowledged them. */
export const HEADER_LIST_SETTINGS = { maxHeaderListSize: HEADER_LIST_LIMIT };

const TOO_LARGE = `the header list is larger than the server accepts: more than ${HEADER_LIST_LIMIT} bytes (RFC 9113's count: each field's name and value plus 32)\n`;

/**
 * `handler`, but an HTTP/2 request whose header list is past the limit is
 * answered 431 before the app sees it, as Node's parser answers an HTTP/1.1
 * head past it: a client that sent it before acknowledging the SETTINGS (or
 * never does) would otherwise be served whatever its size.
 */
export function limitHeaderList(handler: Handler): Handler {
  return (request, response) => {
    if (request instanceof Http2ServerRequest && headerListSize(request.rawHeaders) > HEADER_LIST_LIMIT) refuse(response as Http2ServerResponse);
    else handler(request, response);
  };
}

function headerListSize(rawHeaders: string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += field.length;
  return size + (rawHeaders.length / 2) * 32;
}

/** The 431, then the stream closed with NO_ERROR (RFC 9113 8.1), so that a client still sending a body does not hold it; what it sends is discarded. */
function refuse(response: Http2ServerResponse): void {
  const { stream } = response;
  stream.resume();
  response.writeHead(431, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(TOO_LARGE) });
  // On the next turn: 'finish' comes before Node has queued the END_STREAM, which a reset now would cut off.
  response.end(TOO_LARGE, () => setImmediate(() => {
    if (!stream.closed && stream.state.remoteClose !== 1) stream.close(constants.NGHTTP2_NO_ERROR);
  }));
}
