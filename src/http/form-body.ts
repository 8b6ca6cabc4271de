import { Readable } from 'node:stream';
import busboy from 'busboy';
import type { BodySettings } from './body-options.js';
import { BadRequest, PayloadTooLarge } from './errors.js';
import type { RequestHeaders } from './headers.js';

/** Parses a multipart/form-data body (already size-checked) into a `FormData`, within the form limits. */
export function parseMultipart(bytes: Buffer, headers: RequestHeaders, settings: BodySettings): Promise<FormData> {
  let parser: busboy.Busboy;
  try {
    // Names and filenames as browsers and fetch's FormData send them: UTF-8 (busboy's default is Latin-1), as Django and Starlette read them.
    parser = busboy({ headers: headers.raw, limits: settings.multipart, defParamCharset: 'utf8' });
  } catch (error) {
    return Promise.reject(malformed((error as Error).message));
  }
  // In the body's order: a file is whole only at its stream's end, after the fields that follow it may have come.
  const entries: [name: string, value: () => string | File][] = [];
  let parts = 0;
  return new Promise((resolve, reject) => {
    /** Whether the part has a name; a part without one fails the whole form. */
    const named = (name: string | undefined): name is string => {
      parts++;
      if (name === undefined) reject(malformed(`part ${parts} has no name in its Content-Disposition`));
      return name !== undefined;
    };
    parser.on('field', (name: string | undefined, value) => {
      if (named(name)) entries.push([name, () => value]);
    });
    parser.on('file', (name: string | undefined, stream, info) => {
      // A body that ends inside a file fails the file stream too.
      stream.on('error', (error: Error) => reject(malformed(error.message)));
      if (!named(name)) return void stream.resume();
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      entries.push([name, () => new File(chunks, info.filename ?? '', { type: info.mimeType })]);
    });
    // The first rejection answers; busboy still reads the rest of the body
    // (already in memory), skipping the parts past its limits.
    parser.on('partsLimit', () => reject(tooManyFields(settings.maxFields)));
    parser.on('filesLimit', () => reject(tooMany(settings.maxFiles, 'files', 'maxFiles')));
    // busboy closes once every file stream has ended.
    parser.on('close', () => {
      const form = new FormData();
      for (const [name, value] of entries) form.append(name, value());
      resolve(form);
    });
    parser.on('error', (error: Error) => reject(malformed(error.message)));
    Readable.from([bytes]).pipe(parser);
  });
}

/** Parses an application/x-www-form-urlencoded body into a `FormData`, within `maxFields`. */
export function parseUrlEncoded(text: string, settings: BodySettings): FormData {
  // Counted before parsing, so that a body of a million fields is refused before a million entries are made.
  if (fieldCountPasses(text, settings.maxFields)) throw tooManyFields(settings.maxFields);
  const form = new FormData();
  for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
  return form;
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

function malformed(problem: string): BadRequest {
  return new BadRequest(`malformed multipart body: ${problem}`);
}

function tooManyFields(max: number): PayloadTooLarge {
  return tooMany(max, 'fields', 'maxFields');
}

function tooMany(max: number, what: string, option: string): PayloadTooLarge {
  return new PayloadTooLarge(`form has more than ${max} ${what}; raise createApp({ body: { ${option} } }) to allow more`);
}
