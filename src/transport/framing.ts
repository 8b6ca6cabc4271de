// Coda owns a response's framing: Content-Length and Transfer-Encoding as the
// app set them could put stray bytes in front of the next response on a
// keep-alive connection. These work on the header record handed to writeHead,
// and decide for every transport whether a body goes out (HEAD, 1xx, 204, 304).
import { ProgrammingError } from '../http/errors.js';

type HeaderRecord = Record<string, string | string[]>;

const BYTE_COUNT = /^\d{1,15}$/;

/** Node's own reading of a Connection field that asks for the close (`RE_CONN_CLOSE` in node:_http_outgoing). */
const CLOSES = /(?:^|\W)close(?:$|\W)/i;

/**
 * Drops what the app may not set on an HTTP/1.1 head: a Transfer-Encoding
 * (Coda frames the body itself; Node chunks a stream of unknown length), and
 * a Connection other than `close`: Node reads any other (`keep-alive`) as
 * keeping the connection open, over the client's `Connection: close` (which
 * RFC 9112 9.6 says the server MUST honour) and over a closing server's. A
 * `close` the app sets is kept: it may ask for its connection's end.
 */
export function dropHttp1Framing(headers: HeaderRecord): void {
  if (headers['transfer-encoding'] !== undefined) delete headers['transfer-encoding'];
  const connection = headers['connection'];
  if (connection !== undefined && (typeof connection !== 'string' || !CLOSES.test(connection))) delete headers['connection'];
}

/** Connection-specific fields: HTTP/2 forbids them (RFC 9113 8.2.2), Node refuses to send them. */
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/**
 * Drops what HTTP/2 forbids in a response head, as a gateway from HTTP/1.1
 * does (RFC 9113 8.2.2): the connection-specific fields, whoever set them
 * (a `Connection: close` that an HTTP/1.1 answer would carry included), and
 * a TE other than `trailers`. Framing there is the stream's (DATA frames and
 * END_STREAM), never a header's.
 */
export function dropConnectionHeaders(headers: HeaderRecord): void {
  for (const name of CONNECTION_SPECIFIC) if (headers[name] !== undefined) delete headers[name];
  const te = headers['te'];
  if (te !== undefined && te !== 'trailers') delete headers['te'];
}

/** Whether a response to `method` with `status` carries a body: not for HEAD, 1xx, 204 or 304 (RFC 9110). */
export function sendsBody(method: string, status: number): boolean {
  return method !== 'HEAD' && !bodiless(status);
}

/** Whether a status may ever carry a body (HEAD aside): its framing headers say nothing when not. */
export function bodiless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Frames a fixed body of `length` bytes (`hasBody`: not null) and returns
 * whether it goes out. A status that never carries a body (RFC 9110 8.6, RFC
 * 9112 6.1) has no Content-Length for 1xx and 204, and a 304 keeps the one
 * declared (that of the 200 it stands for); a HEAD response gets the length
 * a GET would get, and an empty one keeps the one its view declared. A
 * declared one that is not a number of bytes is never sent. Call after the
 * Transfer-Encoding is dropped.
 */
export function frameFixed(headers: HeaderRecord, method: string, status: number, hasBody: boolean, length: number): boolean {
  if (bodiless(status)) {
    frameBodiless(headers, status);
    return false;
  }
  if (method === 'HEAD') {
    // The one its view declared, when it is one: a GET of it gets that length too, or none (a client cannot read 'abc').
    if (hasBody || !declaresLength(headers)) headers['content-length'] = String(length);
    return false;
  }
  headers['content-length'] = String(length);
  return true;
}

/**
 * Frames a stream as `frameFixed` does a fixed body, and returns whether it
 * goes out; its Content-Length is the app's (see `declaredLength`), a
 * ProgrammingError on HEAD when it is not a number, as on GET.
 */
export function frameStream(headers: HeaderRecord, method: string, status: number): boolean {
  if (bodiless(status)) {
    frameBodiless(headers, status);
    return false;
  }
  if (method !== 'HEAD') return true;
  // A HEAD gets the head a GET gets: its Content-Length goes out, so one that is not a number is refused as GET's is.
  declaredLength(headers);
  return false;
}

function frameBodiless(headers: HeaderRecord, status: number): void {
  if (headers['content-length'] !== undefined && (status !== 304 || !declaresLength(headers))) delete headers['content-length'];
}

/** Whether the app set a Content-Length that is one number of bytes. */
function declaresLength(headers: HeaderRecord): boolean {
  const value = headers['content-length'];
  return typeof value === 'string' && BYTE_COUNT.test(value);
}

/** The Content-Length the app declared on a stream, -1 when none; a ProgrammingError when it is not one number of bytes. */
export function declaredLength(headers: HeaderRecord): number {
  const value = headers['content-length'];
  if (value === undefined) return -1;
  if (declaresLength(headers)) return Number(value);
  throw new ProgrammingError(`cannot send the streaming response: its Content-Length ${JSON.stringify(value)} is not a number of bytes`);
}
