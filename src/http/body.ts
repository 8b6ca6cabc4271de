import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import { BadRequest, ClientDisconnected, PayloadTooLarge, UnsupportedMediaType } from './errors.js';
import type { RequestHeaders } from './headers.js';
import { echo } from '../util/echo.js';

const EMPTY = Buffer.alloc(0);

/**
 * Reads a whole request body into memory, refusing more than `limit` bytes:
 * at once when Content-Length says so, else as soon as the count passes it
 * (a chunked body has no Content-Length). A body whole but of another length
 * than its Content-Length is a 400: node:http and nghttp2 frame a body by it,
 * but a Web Request handed to app.fetch carries whatever header it was given.
 */
export async function readBody(source: Readable | null, headers: RequestHeaders, limit: number): Promise<Buffer> {
  if (source === null) return EMPTY;
  const declared = headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit, `Content-Length ${declared}`);
  const chunks = new BodyChunks();
  // Stopping early must not destroy the socket: the 413 still has to be sent.
  const iterator = source.iterator({ destroyOnReturn: false });
  try {
    for await (const chunk of iterator) {
      if (chunks.size + (chunk as Buffer).length > limit) throw tooLarge(limit, `more than ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof PayloadTooLarge) throw error;
    // The body may have arrived whole before the connection went: say only what is known.
    throw new ClientDisconnected('complete' in source && source.complete === true ? 'the client disconnected while its request body was being read' : undefined);
  }
  // A request whose connection closed mid-body can end its stream without an error.
  if ('complete' in source && source.complete === false) throw new ClientDisconnected();
  if (declared !== null && !(DIGITS.test(declared) && Number(declared) === chunks.size)) {
    throw new BadRequest(`request body is ${chunks.size} bytes, but its Content-Length is ${JSON.stringify(echo(declared))}`);
  }
  return chunks.bytes();
}

const DIGITS = /^\d+$/;

/** A chunk under this size is copied into a slab with its neighbours, not kept. */
const SMALL = 1024;
const SLAB = 16 * 1024;

/**
 * A body's chunks until it is whole. Each chunk Node hands over is an object
 * of its own (some 250 bytes of heap, whatever its length): a body within
 * the limit sent as a million 1-byte chunks (HTTP/1.1 chunked, or HTTP/2
 * DATA frames) kept a million of them, some 275 MB for a 1 MiB body. Small
 * chunks after the first are copied into a slab instead, so what is held
 * stays about the body's size. The first chunk is kept as it is, and so is
 * any large one: a body in one chunk (most are) is never copied, a body of
 * many is copied once, as before, when the chunks are joined.
 */
class BodyChunks {
  readonly #chunks: Buffer[] = [];
  #slab: Buffer | undefined = undefined;
  #used = 0;
  size = 0;

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (chunk.length >= SMALL || this.#chunks.length === 0) {
      this.#takeSmall();
      this.#chunks.push(chunk);
      return;
    }
    if (this.#slab !== undefined && this.#used + chunk.length > SLAB) {
      // Full: kept as it is, and a new one begun.
      this.#chunks.push(this.#slab.subarray(0, this.#used));
      this.#slab = undefined;
      this.#used = 0;
    }
    this.#slab ??= Buffer.allocUnsafe(SLAB);
    chunk.copy(this.#slab, this.#used);
    this.#used += chunk.length;
  }

  /** The body, whole: the first chunk when it is all, else a copy of the chunks joined. */
  bytes(): Buffer {
    // The last small chunks as the slab holds them: no slab comes after, and joining copies them anyway.
    if (this.#used > 0) this.#chunks.push(this.#slab!.subarray(0, this.#used));
    const chunks = this.#chunks;
    return chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size);
  }

  /**
   * The small chunks gathered so far, as one chunk, before a large one: a
   * copy of their bytes, the slab kept for the next ones (one byte between
   * each pair of large chunks would otherwise hold a 16 KiB slab each).
   */
  #takeSmall(): void {
    if (this.#used === 0) return;
    this.#chunks.push(Buffer.from(this.#slab!.subarray(0, this.#used)));
    this.#used = 0;
  }
}

function tooLarge(limit: number, what: string): PayloadTooLarge {
  return new PayloadTooLarge(`request body too large: ${what}, the limit is ${limit} bytes`, { connection: 'close' });
}

/**
 * Refuses a body sent with a content coding (`Content-Encoding: gzip`, ...)
 * to `reader`: Coda does not decode request bodies, and compressed bytes read
 * as text failed as "not valid UTF-8". A 415 with `Accept-Encoding: identity`,
 * which RFC 9110 15.5.16 asks for. `identity` is no coding.
 */
export function refuseEncoded(headers: RequestHeaders, reader: string): void {
  const sent = headers.get('content-encoding');
  if (sent === null || sent.split(',').every((coding) => IDENTITY.has(coding.trim().toLowerCase()))) return;
  throw new UnsupportedMediaType(
    `request body has Content-Encoding ${JSON.stringify(sent)}, which ${reader} does not decode: send it unencoded, or read request.bytes() (the bytes as sent) and decode them`,
    { 'accept-encoding': 'identity' },
  );
}

/** A member that names no coding; trimmed first: a regular expression with blanks on both sides of an optional word backtracks quadratically over a long run of them. */
const IDENTITY = new Set(['', 'identity']);

/** The media type of a Content-Type header, lower-case, without parameters. */
export function mediaType(contentType: string | null): string {
  if (contentType === null) return '';
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

// One parameter from its `;` up to the next `;` outside quotes: its name, then its value quoted or bare.
const PARAMETER = /;[\t ]*([^;=]*)(?:=[\t ]*(?:"((?:[^"\\]|\\[^])*)"?[^;]*|([^;]*)))?/y;
const QUOTED_PAIR = /\\([^])/g;

/**
 * A parameter of a Content-Type header (`wanted` in lower case), unquoted;
 * undefined when it has none, or an empty one. Parameters are read in turn,
 * as WHATWG's MIME type parser (and busboy) read them: a `charset=` inside
 * another parameter's quoted value (`format="x; charset=utf-16le"`) is no
 * charset (a search for the text took it for one), and the first one counts.
 */
export function parameterOf(contentType: string | null, wanted: string): string | undefined {
  return parameterValues(contentType, wanted).find((value) => value !== '');
}

/**
 * Every value of a Content-Type header's parameter `wanted` (lower case), unquoted, in turn as parameterOf reads them;
 * '' for one without a value. `asWritten`: a quoted value keeps its quotes and escapes.
 */
export function parameterValues(contentType: string | null, wanted: string, asWritten = false): string[] {
  const values: string[] = [];
  if (contentType === null) return values;
  // Each turn takes one `;` and what follows it up to the next: bounded by the header's length.
  for (let at = contentType.indexOf(';'); at !== -1 && at < contentType.length; at = PARAMETER.lastIndex) {
    PARAMETER.lastIndex = at;
    const [, name, quoted, bare] = PARAMETER.exec(contentType)!;
    if (name!.trim().toLowerCase() !== wanted) continue;
    if (quoted === undefined) values.push(bare?.trim() ?? '');
    else values.push(asWritten ? `"${quoted}"` : quoted.replace(QUOTED_PAIR, '$1'));
  }
  return values;
}

/** The charset parameter of a Content-Type header (see parameterOf). */
export function charsetOf(contentType: string | null): string | undefined {
  return parameterOf(contentType, 'charset');
}

/** The 415 for a charset a reader cannot decode; `readable` says which it can, when it is not any TextDecoder knows. */
export function unsupportedCharset(charset: string, readable = ''): UnsupportedMediaType {
  return new UnsupportedMediaType(`unsupported charset ${JSON.stringify(echo(charset))} in Content-Type${readable}`);
}

/**
 * Decodes a body as text in the charset its Content-Type names, UTF-8 when it
 * names none. Bytes that are not valid in that charset are a 400: text never
 * reaches the app with replacement characters in it. A leading byte order
 * mark is dropped, as TextDecoder drops it, whether the charset is named or not.
 */
export function decodeText(bytes: Buffer, contentType: string | null): string {
  const charset = charsetOf(contentType);
  if (charset === undefined) {
    if (!isUtf8(bytes)) throw notValid('UTF-8');
    return bytes.toString('utf8', startsWithBom(bytes) ? 3 : 0);
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: true });
  } catch {
    throw unsupportedCharset(charset);
  }
  const order = utf16Order(decoder.encoding, bytes);
  if (order !== decoder.encoding) decoder = new TextDecoder(order, { fatal: true });
  try {
    return decoder.decode(bytes);
  } catch {
    throw notValid(decoder.encoding.toUpperCase());
  }
}

/**
 * A UTF-16 body's byte order, as its byte order mark says (RFC 2781 4.3, and
 * WHATWG's decode sniffs it too), whichever UTF-16 the label names:
 * TextDecoder reads `utf-16` as little-endian, and read a big-endian body
 * with its mark FE FF as other characters, without an error.
 */
function utf16Order(encoding: string, bytes: Buffer): string {
  if (encoding !== 'utf-16le' && encoding !== 'utf-16be') return encoding;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  return encoding;
}

/** Whether the bytes start with UTF-8's byte order mark, EF BB BF. */
function startsWithBom(bytes: Buffer): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

function notValid(charset: string): BadRequest {
  return new BadRequest(`request body is not valid ${charset}`);
}

/** JSON's media type, or one with the `+json` suffix (RFC 6839) on a subtype that is one token, as RFC 6838 names them: `application/x/y+json` is none. */
const JSON_TYPE = /^application\/(?:[!#$%&'*+.^_`|~0-9a-z-]+\+)?json$/;

/** Whether `type` (a media type in lower case, as mediaType() gives it) is JSON. */
export function isJsonType(type: string): boolean {
  return type === 'application/json' || JSON_TYPE.test(type);
}

/** The 415 of a reader given another media type (`actual`, mediaType() of the `contentType` header), which it repeats cut (`echo`). */
export function requireType(actual: string, contentType: string | null, wanted: string, reader: string): never {
  throw new UnsupportedMediaType(`${reader} expects Content-Type ${wanted}, got ${actual !== '' ? echo(actual) : gotNoType(contentType)}`);
}

/** A Content-Type absent, or one whose media type is empty (`; charset=utf-8`): "none" said only of the first. */
function gotNoType(contentType: string | null): string {
  return contentType === null || contentType.trim() === '' ? 'none' : `${JSON.stringify(echo(contentType))}, which names no media type`;
}
