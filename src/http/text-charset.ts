import { TextDecoder } from 'node:util';
import { charsetOf } from './body.js';
import { ProgrammingError } from './errors.js';
import type { ResponseHeaders } from './headers.js';

/**
 * The charset a Content-Type names when it is not UTF-8 (any of its labels),
 * or undefined. A response's text goes out as UTF-8: under another charset a
 * client reads other characters than those sent (`Café` as `CafÃ©`). Django
 * encodes the text in the charset named, but Node encodes few (and
 * ISO-8859-1 not as browsers read it, as windows-1252); Express rewrites the
 * charset to utf-8, which changes what the app said. Coda refuses it.
 */
export function foreignCharset(contentType: string | null): string | undefined {
  const charset = charsetOf(contentType);
  if (charset === undefined || charset.toLowerCase() === 'utf-8') return undefined;
  try {
    if (new TextDecoder(charset).encoding === 'utf-8') return undefined;
  } catch {
    // No charset a client knows: it cannot read the text either.
  }
  return charset;
}

/** Why text beyond ASCII cannot go out under `charset`, for the error that refuses it. */
export function misnamedText(charset: string): string {
  return `its body is text beyond ASCII, sent as UTF-8, but its Content-Type names charset=${charset}: a client would read other characters; give the body as bytes in that charset, or name charset=utf-8`;
}

/**
 * Refuses (a ProgrammingError, the caller's 500) to send `text`, whose UTF-8
 * length is `byteLength`, under a Content-Type that names another charset.
 * Text within ASCII (its UTF-8 length its length) reads alike in the
 * ASCII-compatible charsets responses name, and costs no more than that
 * comparison.
 */
export function checkSentText(headers: ResponseHeaders, text: string, byteLength: number): void {
  if (byteLength === text.length) return;
  const charset = foreignCharset(headers.get('content-type'));
  if (charset !== undefined) throw new ProgrammingError(`cannot send the response: ${misnamedText(charset)}`);
}
