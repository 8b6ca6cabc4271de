import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import busboy from 'busboy';
import { charsetOf, parameterValues } from './body.js';
import type { BodySettings } from './body-options.js';
import { cut, malformed, notValid, tooMany, tooManyFields, undecodable, untransferable } from './form-errors.js';
import type { RequestHeaders } from './headers.js';
import { boundaryOf, charsetFault, delimited, fileContent, firstHeadProblem, headProblem, namesFormData, NOT_PRINTABLE, partHead, FOLD, type Delimited, type PartHead } from './multipart-parts.js';

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
  // busboy skipped a part (see delimited()): the heads by count are no longer those of the parts it gives.
  let skippedOne = false;
  return new Promise((resolve, reject) => {
    /**
     * The part's name; a part without one fails the whole form. busboy takes `name=""` for none: an empty name
     * is a name, as fetch's formData() reads it.
     */
    const nameOf = (name: string | undefined, encoding: string): string | undefined => {
      parts++;
      head = partHead(bytes, body.bounds[parts - 1]);
      // A head busboy reads no part by is one it skipped: this part is another's, and the form fails at its close, naming the skip.
      skippedOne ||= head !== undefined && !namesFormData(head);
      if (skippedOne) return undefined;
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
      if (!isBase64(encoded)) return void reject(malformed(`part ${parts} has Content-Transfer-Encoding base64, but its content is not base64`));
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

/** The transfer codings a part's content is read in as it is (RFC 2045 6.2; busboy lower-cases the header); base64 is decoded. */
const READ_CODINGS = new Set(['7bit', '8bit', 'binary', 'base64']);
/** base64's alphabet, its padding, and the line breaks and blanks an encoder may put between its lines. */
const BASE64 = /^[A-Za-z0-9+/\t\n\r ]*(?:=[\t\n\r ]*){0,2}$/;
const BLANKS = /[\t\n\r ]/g;

/**
 * Whether `text` is base64 as WHATWG's forgiving-base64 decode reads it
 * (atob()): blanks ignored, padding optional; but one character past a
 * group of four, which encodes no whole byte (`YWJjY`: Node dropped it and
 * decoded 'abc'), is no base64, as Django finds it.
 */
function isBase64(text: string): boolean {
  if (!BASE64.test(text)) return false;
  const bare = text.replace(BLANKS, '');
  const unpadded = bare.endsWith('==') ? bare.slice(0, -2) : bare.endsWith('=') ? bare.slice(0, -1) : bare;
  // Padding belongs only to a whole last group of four.
  if (unpadded !== bare && bare.length % 4 !== 0) return false;
  return unpadded.length % 4 !== 1;
}

/** C0 controls but the tab, and DEL: what busboy refuses in a part's header as written. */
const CONTROL = /[\0-\x08\n-\x1f\x7f]/;
