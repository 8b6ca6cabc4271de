// Coda owns a response's framing: Content-Length and Transfer-Encoding as the
// app set them could put stray bytes in front of the next response on a
// keep-alive connection. These work on the header record handed to writeHead.
import { ProgrammingError } from '../http/errors.js';

type HeaderRecord = Record<string, string | string[]>;

const BYTE_COUNT = /^\d{1,15}$/;

/** Drops a Transfer-Encoding the app set: Coda frames the body itself (Node chunks a stream of unknown length). */
export function dropTransferEncoding(headers: HeaderRecord): void {
  if (headers['transfer-encoding'] !== undefined) delete headers['transfer-encoding'];
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

/**
 * The framing of a status that never carries a body (RFC 9110 8.6, RFC 9112
 * 6.1): no Content-Length for 1xx and 204; a 304 keeps the one declared (that
 * of the 200 it stands for). Call after `dropTransferEncoding`.
 */
export function frameBodiless(headers: HeaderRecord, status: number): void {
  if (status !== 304 && headers['content-length'] !== undefined) delete headers['content-length'];
}

/** A HEAD response's Content-Length: the length a GET would get; an empty HEAD response keeps the one its view declared. */
export function frameHead(headers: HeaderRecord, hasBody: boolean, length: number): void {
  if (hasBody || headers['content-length'] === undefined) headers['content-length'] = String(length);
}

/** The Content-Length the app declared on a stream, -1 when none; a ProgrammingError when it is not one number of bytes. */
export function declaredLength(headers: HeaderRecord): number {
  const value = headers['content-length'];
  if (value === undefined) return -1;
  if (typeof value === 'string' && BYTE_COUNT.test(value)) return Number(value);
  throw new ProgrammingError(`cannot send the streaming response: its Content-Length ${JSON.stringify(value)} is not a number of bytes`);
}
