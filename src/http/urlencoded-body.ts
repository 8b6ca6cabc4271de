import { TextDecoder } from 'node:util';
import { charsetOf, decodeText, unsupportedCharset } from './body.js';
import type { BodySettings } from './body-options.js';
import { BadRequest } from './errors.js';
import { cut, tooManyFields } from './form-errors.js';

// Percent-escapes are content: a BOM among them (%EF%BB%BF) is kept, as WHATWG's "UTF-8 decode without BOM" keeps it.
const UTF8_ESCAPES = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// What TextDecoder, and so text(), reads for iso-8859-1 and latin1 (WHATWG maps them to windows-1252); no byte is invalid in it.
// It has no BOM to keep: without ignoreBOM, as Node 22 drops a lone 0xFF with it.
const LATIN1_ESCAPES = new TextDecoder('windows-1252', { fatal: true });
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
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
