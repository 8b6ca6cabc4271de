import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import busboy from 'busboy';
import { charsetOf, decodeText, parameterValues, unsupportedCharset } from './body.js';
import type { BodySettings } from './body-options.js';
import { BadRequest, PayloadTooLarge, UnsupportedMediaType } from './errors.js';
import type { RequestHeaders } from './headers.js';

/** Parses a multipart/form-data body (already size-checked) into a `FormData`, within the form limits. */
export function parseMultipart(bytes: Buffer, headers: RequestHeaders, settings: BodySettings): Promise<FormData> {
  const unprintable = parameterValues(headers.get('content-type'), 'boundary').find((boundary) => NOT_PRINTABLE.test(boundary));
  if (unprintable !== undefined) {
    return Promise.reject(malformed(`its boundary ${JSON.stringify(cut(unprintable))} has a character other than printable ASCII, which RFC 2046 5.1.1 allows alone`));
  }
  let parser: busboy.Busboy;
  try {
    // Names and filenames as browsers and fetch's FormData send them: UTF-8 (busboy's default is Latin-1), as Django and Starlette read them.
    parser = busboy({ headers: headers.raw, limits: settings.multipart, defParamCharset: 'utf8' });
  } catch (error) {
    return Promise.reject(malformed((error as Error).message));
  }
  let body: Delimited;
  try {
    body = delimited(bytes, boundaryOf(headers.get('content-type')));
  } catch (error) {
    return Promise.reject(error);
  }
  // In the body's order: a file is whole only at its stream's end, after the fields that follow it may have come.
  const entries: [name: string, value: () => string | File][] = [];
  let parts = 0;
  // The head of the part busboy gave last, as sent.
  let head: PartHead | undefined;
  return new Promise((resolve, reject) => {
    /**
     * The part's name; a part without one fails the whole form. busboy takes `name=""` for none: an empty name
     * is a name, as fetch's formData() reads it.
     */
    const nameOf = (name: string | undefined, encoding: string): string | undefined => {
      parts++;
      head = partHead(bytes, body.bounds[parts - 1]);
      const problem = head === undefined ? undefined : headProblem(head, parts);
      if (problem !== undefined) {
        reject(malformed(problem));
        return undefined;
      }
      if (!READ_CODINGS.has(encoding.trim())) {
        reject(untransferable(parts, encoding.trim()));
        return undefined;
      }
      if (name !== undefined) return name;
      if (parameterValues(head?.disposition ?? null, 'name').includes('')) return '';
      // Django reads name*= (RFC 2231); RFC 7578 4.2 has name alone, and busboy reads no other.
      const starred = parameterValues(head?.disposition ?? null, 'name*').length > 0 ? ` (name*= is not read: RFC 7578 4.2 names a part by name="..." alone)` : '';
      reject(malformed(`part ${parts} has no name in its Content-Disposition${starred}`));
      return undefined;
    };
    /**
     * A File of the current part, typed by its Content-Type as sent, parameters and all, as fetch's formData()
     * types it (Django keeps them as content_type_extra; busboy dropped them, a CSV's charset among them);
     * text/plain without one. `chunks` may still grow: the File is made when the form is whole.
     */
    const pushFile = (name: string, chunks: Buffer[], filename: string): void => {
      const type = head?.type?.replace(FOLD, ' ').trim() || 'text/plain';
      entries.push([name, () => new File(chunks, filename, { type })]);
    };
    /**
     * A base64 part (RFC 2045 6.8), decoded from its content as sent, as Django and fetch's formData() decode it
     * (busboy gave the encoded text as the content): a File when it is one, else text in its charset, if busboy
     * could read that charset (`readable`), as for any field.
     */
    const pushDecoded = (name: string, filename: string | undefined, readable = true): void => {
      const encoded = head === undefined ? '' : bytes.toString('latin1', ...head.content);
      if (!BASE64.test(encoded)) return void reject(malformed(`part ${parts} has Content-Transfer-Encoding base64, but its content is not base64`));
      const decoded = Buffer.from(encoded, 'base64');
      if (filename !== undefined || fileContent(bytes, head) !== undefined) return void pushFile(name, [decoded], filename ?? '');
      let decoder: TextDecoder | undefined;
      try {
        if (readable) decoder = new TextDecoder(charsetOf(head?.type ?? null) ?? 'utf-8', { fatal: true });
      } catch {
        // A charset busboy reads under a label TextDecoder does not know: refused below, as busboy's own.
      }
      if (decoder === undefined) return void reject(undecodable(name));
      let text: string;
      try {
        text = decoder.decode(decoded);
      } catch {
        return void reject(notValid(name, `${decoder.encoding.toUpperCase()} (its content once decoded from base64), ${charsetOf(head?.type ?? null) === undefined ? 'the default charset' : 'the charset its part names'}`));
      }
      entries.push([name, () => text]);
    };
    parser.on('field', (given: string | undefined, value: string | undefined, info: busboy.FieldInfo) => {
      const name = nameOf(given, info.encoding);
      if (name === undefined) return;
      if (info.encoding.trim() === 'base64') return pushDecoded(name, undefined, value !== undefined);
      // An empty filename (an empty file input) still makes a file, as fetch's formData() reads it: busboy takes "" for none.
      const content = fileContent(bytes, head);
      if (content !== undefined) return void pushFile(name, [content], '');
      // busboy decodes UTF-8, Latin-1 and UTF-16LE; a part in any other charset it gives as undefined (FormData would hold "undefined").
      if (value === undefined) return void reject(undecodable(name));
      const broken = charsetFault(bytes, head, value);
      if (broken !== undefined) reject(notValid(name, broken));
      else entries.push([name, () => value]);
    });
    parser.on('file', (given: string | undefined, stream, info) => {
      // A body that ends inside a file fails the file stream too.
      stream.on('error', (error: Error) => reject(malformed(error.message)));
      const name = nameOf(given, info.encoding);
      if (name === undefined) return void stream.resume();
      // busboy refuses them as written in a header, but not percent-encoded in filename*= (a NUL fails any fs call, a CR LF splits a log line).
      const control = info.filename === undefined ? null : CONTROL.exec(info.filename);
      if (control !== null) {
        reject(malformed(`part ${parts} has a control character (U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}) in its filename`));
        return void stream.resume();
      }
      if (info.encoding.trim() === 'base64') {
        pushDecoded(name, info.filename ?? '');
        return void stream.resume();
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      pushFile(name, chunks, info.filename ?? '');
    });
    // The first rejection answers; busboy still reads the rest of the body
    // (already in memory), skipping the parts past its limits.
    parser.on('partsLimit', () => reject(tooManyFields(settings.maxFields)));
    parser.on('filesLimit', () => reject(tooMany(settings.maxFiles, 'files', 'maxFiles')));
    // busboy closes once every file stream has ended.
    parser.on('close', () => {
      const skipped = body.parts - parts;
      // busboy skips a part whose Content-Disposition it dropped among header lines past its count: that is the fault to name.
      if (skipped > 0) reject(malformed(firstHeadProblem(bytes, body) ?? `${skipped} of its parts ${skipped === 1 ? 'has' : 'have'} no Content-Disposition naming it form-data that form() can read (RFC 7578 4.2: each part must have one)`));
      const form = new FormData();
      for (const [name, value] of entries) form.append(name, value());
      resolve(form);
    });
    parser.on('error', (error: Error) => reject(malformed(error.message)));
    Readable.from([body.bytes]).pipe(parser);
  });
}

/**
 * The boundary busboy reads the body by (busboy found one, or it would have
 * thrown): a 400 when the Content-Type has two (busboy takes the first, a
 * client may mean the other) or an empty one (busboy read `--` as the
 * delimiter; RFC 2046 5.1.1 wants 1 to 70 characters).
 */
function boundaryOf(contentType: string | null): string {
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
const NOT_PRINTABLE = /[^\x20-\x7e]/;

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;

/** A multipart body as busboy is given it, and where each part busboy starts in it lies in the body as sent. */
interface Delimited {
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
function delimited(bytes: Buffer, boundary: string): Delimited {
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
const FOLD = /\r\n[\t ]+/g;
/** A header line's start: after a line break not followed by a blank (which folds the line before). */
const LINE_START = /\r\n(?![\t ])/g;

/** A part's header lines, its Content-Disposition and Content-Type (null without them) and its content's bounds. */
interface PartHead {
  text: string;
  disposition: string | null;
  type: string | null;
  content: readonly [from: number, to: number];
}

/** The head of the part at `bounds`; undefined when its headers do not end. */
function partHead(bytes: Buffer, bounds: readonly [from: number, to: number] | undefined): PartHead | undefined {
  if (bounds === undefined) return undefined;
  const [from, to] = bounds;
  const headersEnd = bytes.subarray(from, Math.min(to, from + PART_HEADERS_MAX)).indexOf('\r\n\r\n');
  if (headersEnd === -1) return undefined;
  const text = bytes.toString('latin1', from, from + headersEnd);
  return { text, disposition: DISPOSITION.exec(text)?.[1] ?? null, type: CONTENT_TYPE.exec(text)?.[1] ?? null, content: [from + headersEnd + 4, to] };
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
function charsetFault(bytes: Buffer, head: PartHead | undefined, value: string): string | undefined {
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
function headProblem(head: PartHead, index: number): string | undefined {
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
  return undefined;
}

/** The first part of `body` whose head is at fault (headProblem), said; bounded by its parts, as delimited() counted them. */
function firstHeadProblem(bytes: Buffer, body: Delimited): string | undefined {
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
function fileContent(bytes: Buffer, head: PartHead | undefined): Buffer | undefined {
  if (head === undefined) return undefined;
  if (parameterValues(head.disposition, 'filename').length === 0 && parameterValues(head.disposition, 'filename*').length === 0) return undefined;
  return bytes.subarray(...head.content);
}

/** The transfer codings a part's content is read in as it is (RFC 2045 6.2; busboy lower-cases the header); base64 is decoded. */
const READ_CODINGS = new Set(['7bit', '8bit', 'binary', 'base64']);
/** base64's alphabet, its padding, and the line breaks and blanks an encoder may put between its lines. */
const BASE64 = /^[A-Za-z0-9+/\t\n\r ]*(?:=[\t\n\r ]*){0,2}$/;

/** C0 controls but the tab, and DEL: what busboy refuses in a part's header as written. */
const CONTROL = /[\0-\x08\n-\x1f\x7f]/;

// Percent-escapes are content: a BOM among them (%EF%BB%BF) is kept, as WHATWG's "UTF-8 decode without BOM" keeps it.
const UTF8_ESCAPES = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// What TextDecoder, and so text(), reads for iso-8859-1 and latin1 (WHATWG maps them to windows-1252); no byte is invalid in it.
// It has no BOM to keep: without ignoreBOM, as Node 22 drops a lone 0xFF with it.
const LATIN1_ESCAPES = new TextDecoder('windows-1252', { fatal: true });
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/** How much of a name or of escapes a 400 shows: a body may hold a megabyte of either. */
const SHOWN = 36;

/**
 * Parses an application/x-www-form-urlencoded body into a `FormData`, within
 * `maxFields`, as URLSearchParams would (`+` a space, a broken escape such as
 * `%zz` kept as it is) but in the body's charset: UTF-8 by default, where
 * escapes that are not valid UTF-8 are a 400 naming the field (never U+FFFD),
 * or ISO-8859-1; any other charset is a 415.
 */
export function parseUrlEncoded(bytes: Buffer, contentType: string | null, settings: BodySettings): FormData {
  const escapes = escapeDecoder(charsetOf(contentType));
  const text = decodeText(bytes, contentType);
  // Counted before parsing, so that a body of a million fields is refused before a million entries are made.
  if (fieldCountPasses(text, settings.maxFields)) throw tooManyFields(settings.maxFields);
  const form = new FormData();
  for (const field of text.split('&')) {
    if (field === '') continue;
    const equals = field.indexOf('=');
    const rawName = equals === -1 ? field : field.slice(0, equals);
    const name = unescape(rawName, escapes, () => `the form field name ${JSON.stringify(cut(rawName))}`);
    form.append(name, equals === -1 ? '' : unescape(field.slice(equals + 1), escapes, () => `the value of form field ${JSON.stringify(cut(name))}`));
  }
  return form;
}

/** How a urlencoded body's escapes are decoded in its charset: UTF-8 (the default) or Latin-1; a 415 for any other. */
function escapeDecoder(charset: string | undefined): TextDecoder {
  if (charset === undefined) return UTF8_ESCAPES;
  let encoding: string | undefined;
  try {
    encoding = new TextDecoder(charset).encoding;
  } catch {
    // A charset TextDecoder does not know: refused below, as any other.
  }
  if (encoding === 'utf-8') return UTF8_ESCAPES;
  if (encoding === 'windows-1252') return LATIN1_ESCAPES;
  throw unsupportedCharset(charset, ': form() reads urlencoded bodies in UTF-8 or ISO-8859-1 only');
}

/** A name or value with `+` as a space and each run of percent-escapes decoded; `where` names it in the 400 for a run that is not valid. */
function unescape(part: string, escapes: TextDecoder, where: () => string): string {
  const spaced = part.includes('+') ? part.replaceAll('+', ' ') : part;
  if (!spaced.includes('%')) return spaced;
  return spaced.replace(ESCAPE_RUN, (run) => {
    try {
      return escapes.decode(Buffer.from(run.replaceAll('%', ''), 'hex'));
    } catch {
      throw new BadRequest(`${where()} has percent-escapes that are not valid UTF-8 (${cut(run)})`);
    }
  });
}

function cut(text: string): string {
  return text.length > SHOWN ? `${text.slice(0, SHOWN)}...` : text;
}

/** Whether a urlencoded text has more than `max` fields: non-empty runs between `&`s, as URLSearchParams counts them. */
function fieldCountPasses(text: string, max: number): boolean {
  let fields = 0;
  for (let start = 0; start <= text.length;) {
    const amp = text.indexOf('&', start);
    const end = amp === -1 ? text.length : amp;
    if (end > start && ++fields > max) return true;
    start = end + 1;
  }
  return false;
}

function untransferable(index: number, coding: string): UnsupportedMediaType {
  return new UnsupportedMediaType(
    `part ${index} has Content-Transfer-Encoding ${JSON.stringify(cut(coding))}, which form() does not decode (it decodes base64; RFC 7578 4.7 has senders use none): send the content as it is`,
  );
}

function undecodable(name: string): UnsupportedMediaType {
  return new UnsupportedMediaType(
    `form field ${JSON.stringify(cut(name))} has a charset form() does not decode: a multipart field is read in UTF-8 (the default), ISO-8859-1 or UTF-16LE`,
  );
}

/** The 400 for a field whose bytes are not valid in its charset (`why`: the charset and what is wrong). */
function notValid(name: string, why: string): BadRequest {
  return new BadRequest(`form field ${JSON.stringify(cut(name))} is not valid ${why}`);
}

/** busboy's words for a part header it gave up on: it says neither which rule broke nor that one is a limit. */
const BAD_PART_HEADER = 'Malformed part header';

function malformed(problem: string): BadRequest {
  const why = problem === BAD_PART_HEADER ? ' (each part needs header lines of "Name: value" without control characters, 16 KiB at most in all, then a blank line)' : '';
  return new BadRequest(`malformed multipart body: ${problem}${why}`);
}

function tooManyFields(max: number): PayloadTooLarge {
  return tooMany(max, 'fields', 'maxFields');
}

function tooMany(max: number, what: string, option: string): PayloadTooLarge {
  return new PayloadTooLarge(`form has more than ${max} ${what}; raise createApp({ body: { ${option} } }) to allow more`);
}
