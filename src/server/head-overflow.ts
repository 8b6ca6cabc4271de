import { maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';
import { HEADER_COUNT_LIMIT, URI_TOO_LONG as URI_TOO_LONG_TEXT } from './header-list.js';

/** Node's parser error for a head past `maxHeaderSize` (or with too many fields), where it stopped and the read it stopped in. */
export interface OverflowError {
  bytesParsed?: number;
  rawPacket?: Buffer;
}

const URI_TOO_LONG: [number, string] = [414, URI_TOO_LONG_TEXT];
const FIELDS_TOO_LARGE: [number, string] = [431, `the request's header fields are larger than the server accepts: more than ${maxHeaderSize} bytes, or more than ${HEADER_COUNT_LIMIT} header fields`];
/** A read that does not show which part of the head was too large (see `overflowAnswer`). */
const HEAD_TOO_LARGE: [number, string] = [431, `the request line and headers are larger than the server accepts: more than ${maxHeaderSize} bytes, or more than ${HEADER_COUNT_LIMIT} header fields`];

const SP = 0x20;
const LF = 0x0a;
/** The start of a request line: a method (a token), then a space; a header line has a colon right after its name. */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /;

/**
 * The answer to HPE_HEADER_OVERFLOW: Node's parser counts the URL in the
 * same limit as the header fields, and says the same of both; RFC 9110 has
 * 414 for the first and 431 for the second. The read the parser stopped in
 * tells them apart: the URL ends at a space, where no header's name or value
 * does, and a read that ends inside a span shows the line it is on when the
 * line starts in it. A read entirely inside a line begun in an earlier read,
 * with no space in it (a long URL, or a long header value, arriving in many
 * reads), shows neither: its answer is the 431 that names both.
 */
export function overflowAnswer(error: OverflowError, socket: Duplex): [status: number, text: string] {
  const read = error.rawPacket;
  const at = error.bytesParsed;
  if (read === undefined || at === undefined || at > read.length) return HEAD_TOO_LARGE;
  if (at < read.length) return read[at] === SP ? URI_TOO_LONG : FIELDS_TOO_LARGE;
  const lineStart = read.lastIndexOf(LF) + 1;
  if (lineStart > 0 || (socket as { bytesRead?: number }).bytesRead === read.length) {
    return REQUEST_LINE.test(read.subarray(lineStart, lineStart + 64).toString('latin1')) ? URI_TOO_LONG : FIELDS_TOO_LARGE;
  }
  // No URL holds a space or a tab; a header value may.
  return read.includes(SP) || read.includes(0x09) ? FIELDS_TOO_LARGE : HEAD_TOO_LARGE;
}
