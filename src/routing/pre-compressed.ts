import path from 'node:path';
import type { Readable } from 'node:stream';
import type { SendResult } from '@fastify/send';
import { acceptedEncodings, type Encoding } from '../http/accept-encoding.js';
import { HttpError } from '../http/errors.js';
import { closeFile, openInside } from '../http/file-body.js';
import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { addVary, errorVarying } from '../http/vary.js';

/** The encodings `preCompressed` serves, Brotli first on a tie, and the suffix of the file that holds each. */
const ENCODINGS: readonly Encoding[] = ['br', 'gzip'];
const SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };
/** A request with no condition: what @fastify/send finds for a path, whatever the client has. */
const UNCONDITIONAL = { method: 'HEAD', headers: {} } as unknown as Readable;

/** @fastify/send's answer for `file` (an encoded path under the root), to `conditions`: a HEAD, nothing opened. */
export type Look = (conditions: Readable, file: string) => Promise<SendResult>;

/** The file chosen: @fastify/send's answer, and for a pre-compressed file its `encoding` and the `original` it encodes, which types it. */
export interface Choice {
  result: SendResult;
  encoding?: Encoding;
  original?: string;
}

/**
 * @fastify/send's answer (through `look`) for the request's `file`, or for the
 * `.br` or `.gz` beside the file it finds when `acceptEncoding` takes that
 * encoding (its best first) and the file is there: its own length and
 * validators, the `conditions` answered against them. One that is no regular
 * file, that a symlink leads out of `root` (a real path), or that the server
 * may not read, is passed over.
 */
export async function choosePreCompressed(look: Look, root: string, acceptEncoding: string | null, conditions: Readable, file: string): Promise<Choice> {
  const encodings = acceptedEncodings(acceptEncoding, ENCODINGS);
  if (encodings.length === 0) return { result: await look(conditions, file) };
  // Found without conditions first: a folder's index, an extension tried, each decide which file is encoded.
  const found = await look(UNCONDITIONAL, file);
  if (found.type !== 'file' || !found.metadata.stat.isFile()) return { result: found };
  const original = found.metadata.path;
  const encoded = `/${path.relative(root, original).split(path.sep).map(encodeURIComponent).join('/')}`;
  for (const encoding of encodings) {
    const result = await look(conditions, encoded + SUFFIX[encoding]);
    const there = (result.type === 'file' && result.metadata.stat.isFile()) || result.statusCode === 412;
    // One a symlink leads out of the root, or the server may not read, is as good as missing: `name` is served in its place.
    if (there && await opensInside(original + SUFFIX[encoding], root)) return { result, encoding, original };
  }
  return { result: await look(conditions, file) };
}

/**
 * `serve`, with `Vary: Accept-Encoding` on every answer, a refusal too (a 416
 * or 412 is of the compressed file's length and validators), so that a cache
 * keys each on it.
 */
export function varyingByEncoding(serve: (request: HttpRequest) => Promise<HttpResponse>): (request: HttpRequest) => Promise<HttpResponse> {
  return async (request) => {
    let response: HttpResponse;
    try {
      response = await serve(request);
    } catch (error) {
      throw error instanceof HttpError ? errorVarying(error, 'Accept-Encoding') : error;
    }
    addVary(response, 'Accept-Encoding');
    return response;
  };
}

/** Whether `file` opens for this process and is under `root` (a real path): openInside()'s check, the file closed after. */
async function opensInside(file: string, root: string): Promise<boolean> {
  try {
    closeFile(await openInside(file, root, file));
    return true;
  } catch {
    return false;
  }
}
