import { TextDecoder } from 'node:util';
import { charsetOf, parameterValues } from './body.js';
import { cut, malformed } from './form-errors.js';

// Where the parts of a multipart body lie in it as sent, and what their heads say: what busboy reads otherwise, or not at all.

/**
 * The boundary busboy reads the body by (busboy found one, or it would have
 * thrown): a 400 when the Content-Type has two (busboy takes the first, a
 * client may mean the other) or an empty one (busboy read `--` as the
 * delimiter; RFC 2046 5.1.1 wants 1 to 70 characters).
 */
export function boundaryOf(contentType: string | null): string {
  const boundaries = parameterValues(contentType, 'boundary');
  if (boundaries.length > 1) throw malformed(`its Content-Type has ${boundaries.length} boundary parameters; it must have one`);
  if (boundaries[0] === '') throw malformed('its boundary parameter is empty; a boundary is 1 to 70 characters (RFC 2046 5.1.1)');
  return boundaries[0]!;
}

/**
 * What no boundary may hold (Django refuses it too): over the wire busboy
 * found the Content-Type malformed, or, quoted, never matched the boundary
 * (Node reads a header as Latin-1, busboy the boundary as UTF-8); in
 * process it read the body.
 */
export const NOT_PRINTABLE = /[^\x20-\x7e]/;

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;

/** A multipart body as busboy is given it, and where each part busboy starts in it lies in the body as sent. */
export interface Delimited {
  bytes: Buffer;
  parts: number;
  /** Each part's headers and content: from after its delimiter's line break to the next delimiter. */
  bounds: (readonly [from: number, to: number])[];
}

/**
 * The body without transport padding (RFC 2046 5.1.1: blanks between a
 * delimiter and its CRLF, which receivers must read past), and how many
 * parts busboy starts in it: each delimiter (CRLF `--boundary`) followed by
 * CRLF before the close delimiter (`--boundary--`), found as it finds them,
 * the body read as if after a CRLF. It skips a part without a form-data
 * Content-Disposition, or with one it cannot read (a filename*= in a
 * charset it does not decode), without a word: only the count tells. A
 * delimiter followed by anything else (a file holding the boundary at the
 * start of a line) is a 400: busboy took it for the part's end and dropped
 * what followed, up to the next delimiter.
 */
export function delimited(bytes: Buffer, boundary: string): Delimited {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const kept: Buffer[] = [];
  const bounds: [from: number, to: number][] = [];
  let from = 0;
  let parts = 0;
  let at = bytes.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2)) ? -2 : bytes.indexOf(delimiter);
  // Each turn moves past a delimiter: bounded by the body's length.
  for (; at !== -1; at = bytes.indexOf(delimiter, at + delimiter.length)) {
    if (parts > 0) bounds[parts - 1]![1] = at;
    const next = at + delimiter.length;
    if (bytes[next] === DASH && bytes[next + 1] === DASH) break;
    let end = next;
    while (bytes[end] === SPACE || bytes[end] === TAB) end++;
    // A body cut here is busboy's to refuse ("Unexpected end of form").
    if (end >= bytes.length - 1) break;
    if (bytes[end] !== CR || bytes[end + 1] !== LF) {
      throw malformed(`its boundary ${JSON.stringify(cut(boundary))} is followed by other text than a line break or "--" ${parts === 0 ? 'before its first part' : `after part ${parts}`}; a part may not hold the boundary at the start of a line`);
    }
    parts++;
    bounds.push([end + 2, bytes.length]);
    if (end > next) {
      kept.push(bytes.subarray(from, next));
      from = end;
    }
  }
  return { bytes: kept.length === 0 ? bytes : Buffer.concat([...kept, bytes.subarray(from)]), parts, bounds };
}

/** How far into a part its headers' end is looked for: busboy refuses a part whose headers are longer. */
const PART_HEADERS_MAX = 16 * 1024;
/** busboy keeps a part's first 1,999 header lines and drops the rest without a word (Node's maxHeadersCount, less one). */
const PART_HEADER_LINES_MAX = 1999;
// A header's value with the lines folded onto it (busboy unfolds them).
const DISPOSITION = /^content-disposition:([^\r\n]*(?:\r\n[\t ][^\r\n]*)*)/im;
const CONTENT_TYPE = /^content-type:([^\r\n]*(?:\r\n[\t ][^\r\n]*)*)/im;
/** A line break that folds a header line onto the one before. */
export const FOLD = /\r\n[\t ]+/g;
/** A header line's start: after a line break not followed by a blank (which folds the line before). */
const LINE_START = /\r\n(?![\t ])/g;

/** A part's header lines, its Content-Disposition and Content-Type (null without them) and its content's bounds. */
export interface PartHead {
  text: string;
  disposition: string | null;
  type: string | null;
  content: readonly [from: number, to: number];
}

/** The head of the part at `bounds`; undefined when its headers do not end. */
export function partHead(bytes: Buffer, bounds: readonly [from: number, to: number] | undefined): PartHead | undefined {
  if (bounds === undefined) return undefined;
  const [from, to] = bounds;
  const headersEnd = bytes.subarray(from, Math.min(to, from + PART_HEADERS_MAX)).indexOf('\r\n\r\n');
  if (headersEnd === -1) return undefined;
  const text = bytes.toString('latin1', from, from + headersEnd);
  return { text, disposition: DISPOSITION.exec(text)?.[1] ?? null, type: CONTENT_TYPE.exec(text)?.[1] ?? null, content: [from + headersEnd + 4, to] };
}

/** A Content-Disposition of the form-data type, its parameters after it. */
const FORM_DATA = /^[\t ]*form-data[\t ]*(?:;|$)/i;

/** Whether the part's Content-Disposition is of the form-data type, as busboy requires of a part it gives (it skips any other without a word). */
export function namesFormData(head: PartHead): boolean {
  return head.disposition !== null && FORM_DATA.test(head.disposition.replace(FOLD, ' '));
}

/** The labels busboy decodes a part as UTF-16LE by (Buffer's ucs2Slice, which drops an odd last byte and keeps a lone surrogate). */
const UTF16LE_LABELS = new Set(['utf16le', 'utf-16le', 'ucs2', 'ucs-2']);
/** The labels busboy decodes a part as UTF-8 by (with U+FFFD for bytes that are not), the default among them. */
const UTF8_LABELS = new Set(['utf-8', 'utf8']);
const UTF16LE = new TextDecoder('utf-16le', { fatal: true });
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why the field with `head`, read by busboy as `value`, is not valid in its
 * charset (said with it), or undefined: busboy put U+FFFD for bytes that are
 * not UTF-8, and dropped a UTF-16LE part's odd last byte unseen. A field is
 * refused then, as text() and a urlencoded form() refuse such bytes (a 400,
 * never U+FFFD): a value the client did not send must not reach the app.
 */
export function charsetFault(bytes: Buffer, head: PartHead | undefined, value: string): string | undefined {
  if (head === undefined) return undefined;
  const named = charsetOf(head.type)?.toLowerCase();
  const which = named === undefined ? 'the default charset' : 'the charset its part names';
  if (named !== undefined && UTF16LE_LABELS.has(named)) {
    const content = bytes.subarray(...head.content);
    if (content.length % 2 === 1) return `UTF-16LE, ${which}: it has an odd number of bytes (${content.length}), so its last byte is half a character`;
    return decodes(UTF16LE, content) ? undefined : `UTF-16LE, ${which}: it has an unpaired surrogate`;
  }
  // U+FFFD is a character a client may send: only a field that has one is decoded again, strictly.
  if ((named === undefined || UTF8_LABELS.has(named)) && value.includes('\ufffd') && !decodes(UTF8, bytes.subarray(...head.content))) {
    return `UTF-8, ${which}: it has bytes that are not UTF-8`;
  }
  return undefined;
}

function decodes(decoder: TextDecoder, bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Headers and Content-Disposition parameters a part may give once: busboy reads the first, Django and Starlette the last. */
const SINGLE_HEADERS = [['Content-Disposition', /^content-disposition:/gim], ['Content-Type', /^content-type:/gim]] as const;
const SINGLE_PARAMETERS = ['name', 'filename', 'filename*'];

/**
 * What in part `index`'s head busboy would read other than it was sent,
 * for the 400: lines past busboy's count, which it drops; a header or a
 * parameter given twice, of which another parser takes another.
 */
export function headProblem(head: PartHead, index: number): string | undefined {
  const lines = (head.text.match(LINE_START)?.length ?? 0) + 1;
  if (lines > PART_HEADER_LINES_MAX) return `part ${index} has ${lines} header lines; a part may have ${PART_HEADER_LINES_MAX} at most`;
  for (const [header, pattern] of SINGLE_HEADERS) {
    const count = head.text.match(pattern)?.length ?? 0;
    if (count > 1) return `part ${index} has ${count} ${header} header lines; it must have one`;
  }
  for (const parameter of SINGLE_PARAMETERS) {
    const count = parameterValues(head.disposition, parameter).length;
    if (count > 1) return `part ${index} has ${count} ${parameter} parameters in its Content-Disposition; it must have one`;
  }
  const extended = parameterValues(head.disposition, 'filename*', true)[0];
  return extended === undefined ? undefined : extendedProblem(extended, index);
}

/** RFC 8187's ext-value, its charset captured, then its value: attr-chars and percent-encoded bytes. */
const EXT_VALUE = /^([!#$%&+\-^_`{}~0-9A-Za-z]+)'[^']*'((?:[!#$&+\-.^_`|~0-9A-Za-z]|%[0-9A-Fa-f]{2})*)$/;
/** The charsets busboy decodes a filename*= in as they are; any other it cannot read (it skips the part), and `base64` it encodes the name in. */
const EXT_CHARSETS = new Set(['utf-8', 'utf8', 'latin1', 'iso-8859-1', 'iso8859-1', 'iso88591', 'iso_8859-1', ...UTF16LE_LABELS]);
/** The windows-1252 labels busboy decodes as ISO-8859-1: right but for the bytes 0x80 to 0x9F (`%80` is €, not U+0080). */
const WINDOWS_1252 = new Set(['windows-1252', 'cp1252', 'x-cp1252']);
const C1_BYTE = /%[89][0-9A-Fa-f]/;
/** The ASCII labels, which busboy decodes as ISO-8859-1: right for ASCII's bytes only (`%E9` is none). */
const ASCII = new Set(['ascii', 'us-ascii']);
const HIGH_BYTE = /%[89A-Fa-f][0-9A-Fa-f]/;

/** Why part `index`'s filename*= (`value`, RFC 8187, as written) is not read as sent, or undefined. */
function extendedProblem(value: string, index: number): string | undefined {
  // RFC 8187's ext-value is never quoted: busboy skips a quoted one (the part's head unread).
  if (value.startsWith('"')) return `part ${index} has a quoted filename*=, which form() does not read: send it unquoted (RFC 8187): ${JSON.stringify(cut(value))}`;
  const match = EXT_VALUE.exec(value);
  if (match === null) return `part ${index} has a filename*= that is not RFC 8187's charset'language'value-chars: ${JSON.stringify(cut(value))}`;
  // RFC 8187 allows it, but busboy skips the part: a name it would not give anyway.
  if (match[2] === '') return `part ${index} has a filename*= with no name after its charset and language: ${JSON.stringify(cut(value))}`;
  const charset = match[1]!.toLowerCase();
  const bytes = match[2]!;
  if (ASCII.has(charset) && HIGH_BYTE.test(bytes)) return `part ${index} has a filename*= in charset ${JSON.stringify(charset)} with a byte that is not ASCII: send UTF-8 (RFC 8187)`;
  const readable = EXT_CHARSETS.has(charset) || ASCII.has(charset) || (WINDOWS_1252.has(charset) && !C1_BYTE.test(bytes));
  return readable ? undefined : `part ${index} has a filename*= in charset ${JSON.stringify(cut(match[1]!))}, which form() does not read: send UTF-8 (RFC 8187)`;
}

/** The first part of `body` whose head is at fault (headProblem), said; bounded by its parts, as delimited() counted them. */
export function firstHeadProblem(bytes: Buffer, body: Delimited): string | undefined {
  for (const [index, bounds] of body.bounds.entries()) {
    const head = partHead(bytes, bounds);
    const problem = head === undefined ? undefined : headProblem(head, index + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * The content of the part whose head is `head` when its Content-Disposition has a
 * filename parameter (RFC 7578 4.2: the part is a file), however empty:
 * busboy takes `filename=""` (an empty file input) for no filename, and the
 * part for a field unless its type is application/octet-stream.
 */
export function fileContent(bytes: Buffer, head: PartHead | undefined): Buffer | undefined {
  if (head === undefined) return undefined;
  if (parameterValues(head.disposition, 'filename').length === 0 && parameterValues(head.disposition, 'filename*').length === 0) return undefined;
  return bytes.subarray(...head.content);
}
