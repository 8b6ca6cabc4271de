import { maxHeaderSize, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants, Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import { answerAndCloseStream } from './answer-stream.js';
import { refuseHttp09 } from './http09.js';
import { refuseHttp1 } from './refuse-http1.js';
import { refuseTransferCoding, serveUnlessParserRefuses } from './transfer-coding.js';
import { closeUnlessReceived } from './unread-body.js';
import { closeAfterUnusedUpgrade } from './unused-upgrade.js';
import { refusalOf, type Refusal } from '../observe/refusal.js';

/** A request listener for either protocol's requests (an HTTP/2 server's hears HTTP/1.1 ones too). */
export type Handler = (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => void;

/**
 * The most an HTTP/2 request's header list may hold, by RFC 9113's count
 * (each field's name and value plus 32 octets, pseudo-headers included):
 * node:http's `maxHeaderSize`, the limit of an HTTP/1.1 request's head
 * (16 KiB unless `--max-http-header-size` says otherwise). Node's own HTTP/2
 * default is 64 KiB, and it enforces even that only once the client has
 * acknowledged the server's SETTINGS.
 */
const HEADER_LIST_LIMIT = maxHeaderSize;

/** The HTTP/2 settings that advertise the limit; Node resets a stream past it (ENHANCE_YOUR_CALM) once the client has acknowledged them. */
export const HEADER_LIST_SETTINGS = { maxHeaderListSize: HEADER_LIST_LIMIT };

/**
 * The most header fields an HTTP/1.1 request may have: Node's own default.
 * Node 24's parser refuses a head with more fields than the server keeps
 * (`maxHeadersCount`; its 431, see client-error.ts); earlier Nodes keep the
 * first ones and drop the rest without a word, so the app would see a request
 * other than the one sent. The server keeps one more than the limit, so that
 * `tooManyFields` can tell a request past it whatever the Node.
 */
export const HEADER_COUNT_LIMIT = 1_000;

/** The words of a 414, whatever the protocol: a URL as long as the limit leaves no room for the rest of the head. */
export const URI_TOO_LONG = `the request target (the URL) is longer than the server accepts: more than ${HEADER_LIST_LIMIT} bytes`;
const TOO_LARGE = `the header list is larger than the server accepts: more than ${HEADER_LIST_LIMIT} bytes (RFC 9113's count: each field's name and value plus 32)\n`;
/** The words of the 431 for `tooManyFields`, its body and its reason. */
export const TOO_MANY = `the request has too many header fields: more than ${HEADER_COUNT_LIMIT} header fields, the most the server accepts\n`;

/**
 * `handler`, but a request past the header limits is answered 431 before the
 * app sees it: an HTTP/2 header list past the size, as Node's parser answers
 * an HTTP/1.1 head past it (a client that sent it before acknowledging the
 * SETTINGS, or never does, would otherwise be served whatever its size), and
 * an HTTP/1.1 request with more than `HEADER_COUNT_LIMIT` fields. An HTTP/2
 * request's trailers past the size reset its stream (`limitTrailers`). (On
 * the HTTP/2 port, HTTP/1.1 requests get the transfer-coding check and the
 * unread-body close here too.)
 */
export function limitHeaderList(handler: Handler, refused: (refusal: Refusal) => void): Handler {
  return (request, response) => {
    if (request instanceof Http2ServerRequest) {
      if (headerListSize(request.rawHeaders) > HEADER_LIST_LIMIT) {
        // As over HTTP/1.1 (head-overflow.ts): the URL alone past the limit is a 414. A CONNECT has no :path (its `url` is undefined): its header fields overflowed.
        const path = request.headers[':path'];
        const [status, text] = path !== undefined && path.length >= HEADER_LIST_LIMIT ? [414, `${URI_TOO_LONG}\n`] : [431, TOO_LARGE];
        answerAndCloseStream(response as Http2ServerResponse, status, text);
        refused(refusalOf(status, text, request.socket));
      } else {
        if (!request.stream.endAfterHeaders) request.stream.once('trailers', limitTrailers);
        handler(request, response);
      }
    } else if (tooManyFields(request)) {
      refuseTooManyFields(request, response as ServerResponse, refused);
    } else if (!refuseHttp09(request, response as ServerResponse, refused) && !refuseTransferCoding(request, response as ServerResponse, refused)) {
      serveUnlessParserRefuses(request, () => {
        closeUnlessReceived(request, response as ServerResponse);
        closeAfterUnusedUpgrade(request, response as ServerResponse);
        handler(request, response);
      });
    }
  };
}

/**
 * Trailers past the limit reset their stream (ENHANCE_YOUR_CALM), as Node
 * resets it once the client has acknowledged the SETTINGS: before that it
 * took a trailer list of 100 KB, which the view read as a request like any
 * other (over HTTP/1.1 the trailers count in the head's 16 KiB). The view
 * reading the body sees a client gone.
 */
function limitTrailers(this: ServerHttp2Stream, _trailers: unknown, _flags: number, rawTrailers: string[]): void {
  if (headerListSize(rawTrailers) > HEADER_LIST_LIMIT) this.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
}

/** What node:http keeps of a request's fields (`maxHeadersCount`): one past the limit, so that a request past it shows. */
export const HEADERS_KEPT = HEADER_COUNT_LIMIT + 1;

function headerListSize(rawHeaders: string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += field.length;
  return size + (rawHeaders.length / 2) * 32;
}

/** Whether an HTTP/1.1 request has more than `HEADER_COUNT_LIMIT` fields (node:http kept one more, so that it shows). */
export function tooManyFields(request: IncomingMessage): boolean {
  return request.rawHeaders.length > HEADER_COUNT_LIMIT * 2;
}

/** The 431 for `tooManyFields`, recorded; the connection is closed, as Node closes it after its own 431. */
export function refuseTooManyFields(request: IncomingMessage, response: ServerResponse, refused: (refusal: Refusal) => void): void {
  refuseHttp1(request, response, 431, TOO_MANY, TOO_MANY, refused);
}
