import { maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';
import { HEADER_COUNT_LIMIT, URI_TOO_LONG as URI_TOO_LONG_TEXT } from './header-list.js';

/** Node's parser error for a head past `maxHeaderSize` (or with too many fields), where it stopped and the read it stopped in. */
export interface OverflowError {
  bytesParsed?: number;
  rawPacket?: Buffer;
}

/** The answers to a head past the limit: its URL alone (414), or its header fields (431). */
export const URI_TOO_LONG: [number, string] = [414, URI_TOO_LONG_TEXT];
export const FIELDS_TOO_LARGE: [number, string] = [431, `the request's header fields are larger than the server accepts: more than ${maxHeaderSize} bytes, or more than ${HEADER_COUNT_LIMIT} header fields`];
/** A read that does not show which part of the head was too large (see `overflowAnswer`). */
const HEAD_TOO_LARGE: [number, string] = [431, `the request line and headers are larger than the server accepts: more than ${maxHeaderSize} bytes, or more than ${HEADER_COUNT_LIMIT} header fields`];

const SP = 0x20;
const LF = 0x0a;
/**
 * A header's name and its colon, the whole line up to where the parser
 * stopped: past the field count, it stops after the colon, on the space
 * before the value (no request line is a token and a colon).
 */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:$/;
/** A header line: a name (a token), then a colon or the read's end; or an obs-fold, a value's continuation, begun by whitespace. */
const HEADER_LINE = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?::|$)|[ \t])/;
/**
 * A request line still in its URL, at the read's end: a method (llhttp knows
 * only upper-case ones) at the read's start or after a byte no token holds
 * (the body of the request before it), a space, a target begun as one is (a
 * path, `*` or a scheme), no space after it.
 */
const REQUEST_LINE = /(^|[^!#$%&'*+\-.^_`|~0-9A-Za-z])[A-Z-]+ (?:[/*]|[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^ \t]*$/;

/**
 * The answer to HPE_HEADER_OVERFLOW: Node's parser counts the URL in the
 * same limit as the header fields, and says the same of both (and of a
 * field past the count); RFC 9110 has 414 for the first and 431 for the
 * others. The read the parser stopped in tells them apart: the URL ends at a
 * space, where no header's name or value does (past the field count the
 * parser stops on the space after a name's colon: its line shows it), and a
 * read that ends inside a span shows the line it is on when the
 * line starts in it: a header line starts with its name and a colon, and any
 * other is the request line (after the body of the request before it, when
 * they share the read). A read entirely inside a line (no LF) that begins as
 * a request line still in its URL begins the next request on a kept-alive
 * connection. Any other such read with no space in it (a long URL, or a long
 * header value, arriving in many reads), or that ends in a request line after
 * other bytes (a body's end, or a header value's), shows neither: its answer
 * is the 431 that names both. The earlier reads that would tell are gone:
 * Node keeps what its parser read of the head inside the parser, and only
 * watching every read of every connection would keep them.
 */
export function overflowAnswer(error: OverflowError, socket: Duplex): [status: number, text: string] {
  const read = error.rawPacket;
  const at = error.bytesParsed;
  if (read === undefined || at === undefined || at > read.length) return HEAD_TOO_LARGE;
  if (at < read.length) return read[at] === SP && !HEADER_NAME.test(read.toString('latin1', read.lastIndexOf(LF, at) + 1, at)) ? URI_TOO_LONG : FIELDS_TOO_LARGE;
  const lineStart = read.lastIndexOf(LF) + 1;
  if (lineStart > 0 || (socket as { bytesRead?: number }).bytesRead === read.length) {
    return HEADER_LINE.test(read.subarray(lineStart).toString('latin1')) ? FIELDS_TOO_LARGE : URI_TOO_LONG;
  }
  // A request line after other bytes: a body's end, or a header value's.
  const requestLine = REQUEST_LINE.exec(read.toString('latin1'));
  if (requestLine !== null) return requestLine[1] === '' ? URI_TOO_LONG : HEAD_TOO_LARGE;
  // No URL holds a space or a tab; a header value may.
  return read.includes(SP) || read.includes(0x09) ? FIELDS_TOO_LARGE : HEAD_TOO_LARGE;
}
