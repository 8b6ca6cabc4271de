import { BadRequest, PayloadTooLarge, UnsupportedMediaType } from './errors.js';

// The errors of form(), multipart and urlencoded: each names the field, the part or the option.

/** How much of a name or of escapes a 400 shows: a body may hold a megabyte of either. */
const SHOWN = 36;

/** `text` cut to what a 400 shows of it. */
export function cut(text: string): string {
  return text.length > SHOWN ? `${text.slice(0, SHOWN)}...` : text;
}

/** The 415 for part `index`, sent in a transfer coding form() does not decode. */
export function untransferable(index: number, coding: string): UnsupportedMediaType {
  return new UnsupportedMediaType(
    `part ${index} has Content-Transfer-Encoding ${JSON.stringify(cut(coding))}, which form() does not decode (it decodes base64; RFC 7578 4.7 has senders use none): send the content as it is`,
  );
}

/** The 415 for a multipart field in a charset busboy does not decode. */
export function undecodable(name: string): UnsupportedMediaType {
  return new UnsupportedMediaType(
    `form field ${JSON.stringify(cut(name))} has a charset form() does not decode: a multipart field is read in UTF-8 (the default), ISO-8859-1 or UTF-16LE`,
  );
}

/** The 400 for a field whose bytes are not valid in its charset (`why`: the charset and what is wrong). */
export function notValid(name: string, why: string): BadRequest {
  return new BadRequest(`form field ${JSON.stringify(cut(name))} is not valid ${why}`);
}

/** busboy's words for a part header it gave up on: it says neither which rule broke nor that one is a limit. */
const BAD_PART_HEADER = 'Malformed part header';

/** The 400 for a multipart body that breaks a rule (`problem` says which). */
export function malformed(problem: string): BadRequest {
  const why = problem === BAD_PART_HEADER ? ' (each part needs header lines of "Name: value" without control characters, 16 KiB at most in all, then a blank line)' : '';
  return new BadRequest(`malformed multipart body: ${problem}${why}`);
}

/** The 413 for a form past `maxFields`. */
export function tooManyFields(max: number): PayloadTooLarge {
  return tooMany(max, 'fields', 'maxFields');
}

/** The 413 for a form past a limit: more than `max` `what`, raised by the body option `option`. */
export function tooMany(max: number, what: string, option: string): PayloadTooLarge {
  return new PayloadTooLarge(`form has more than ${max} ${what}; raise createApp({ body: { ${option} } }) to allow more`);
}
