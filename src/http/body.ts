import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import busboy from 'busboy';
import { BadRequest, ClientDisconnected, PayloadTooLarge, UnsupportedMediaType } from './errors.js';
import type { RequestHeaders } from './headers.js';

const EMPTY = Buffer.alloc(0);

/**
 * Reads a whole request body into memory, refusing more than `limit` bytes:
 * at once when Content-Length says so, else as soon as the count passes it
 * (a chunked body has no Content-Length).
 */
export async function readBody(source: Readable | null, headers: RequestHeaders, limit: number): Promise<Buffer> {
  if (source === null) return EMPTY;
  const declared = headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit, `Content-Length ${declared}`);
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early must not destroy the socket: the 413 still has to be sent.
  const iterator = source.iterator({ destroyOnReturn: false });
  try {
    for await (const chunk of iterator) {
      size += (chunk as Buffer).length;
      if (size > limit) throw tooLarge(limit, `more than ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof PayloadTooLarge) throw error;
    throw new ClientDisconnected();
  }
  // A request whose connection closed mid-body can end its stream without an error.
  if ('complete' in source && source.complete === false) throw new ClientDisconnected();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function tooLarge(limit: number, what: string): PayloadTooLarge {
  return new PayloadTooLarge(`request body too large: ${what}, the limit is ${limit} bytes`, { connection: 'close' });
}

/** The media type of a Content-Type header, lower-case, without parameters. */
export function mediaType(contentType: string | null): string {
  if (contentType === null) return '';
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/** Decodes a body as text in the charset its Content-Type names (UTF-8 by default). */
export function decodeText(bytes: Buffer, contentType: string | null): string {
  const charset = contentType === null ? undefined : CHARSET.exec(contentType)?.[1];
  if (charset === undefined) return bytes.toString('utf8');
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw new UnsupportedMediaType(`unsupported charset ${JSON.stringify(charset)} in Content-Type`);
  }
  return decoder.decode(bytes);
}

export function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadRequest(`malformed JSON body: ${(error as Error).message}`);
  }
}

/** Parses a multipart/form-data body (already size-checked) into a `FormData`. */
export function parseMultipart(bytes: Buffer, headers: RequestHeaders): Promise<FormData> {
  let parser: busboy.Busboy;
  try {
    // The body's size is already checked. busboy's own limits (a 1 MiB text
    // field, by default) would cut values short without an error.
    parser = busboy({ headers: headers.raw, limits: { fieldSize: Infinity } });
  } catch (error) {
    return Promise.reject(new BadRequest(`malformed multipart body: ${(error as Error).message}`));
  }
  const form = new FormData();
  return new Promise((resolve, reject) => {
    parser.on('field', (name, value) => form.append(name, value));
    parser.on('file', (name, stream, info) => {
      const parts: Buffer[] = [];
      stream.on('data', (part: Buffer) => parts.push(part));
      stream.on('end', () => form.append(name, new File(parts, info.filename ?? '', { type: info.mimeType })));
    });
    parser.on('close', () => resolve(form));
    parser.on('error', (error: Error) => reject(new BadRequest(`malformed multipart body: ${error.message}`)));
    Readable.from([bytes]).pipe(parser);
  });
}

/** Parses an application/x-www-form-urlencoded body into a `FormData`. */
export function parseUrlEncoded(text: string): FormData {
  const form = new FormData();
  for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
  return form;
}

export function requireType(actual: string, wanted: string, reader: string): never {
  throw new UnsupportedMediaType(
    `${reader} expects Content-Type ${wanted}, got ${actual === '' ? 'none' : actual}`,
  );
}
