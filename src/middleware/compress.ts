import { pipeline, Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { acceptedEncodings, type Encoding } from '../http/accept-encoding.js';
import { representationType } from '../http/representation-type.js';
import type { HttpRequest } from '../http/request.js';
import { copyResponse } from '../http/response-copy.js';
import type { HttpResponse } from '../http/response.js';
import { StreamingResponse, type StreamSource } from '../http/streaming-response.js';
import { checkSentText } from '../http/text-charset.js';
import { addVary } from '../http/vary.js';
import type { MiddlewareHooks } from '../pipeline/types.js';
import { kTransformStream } from '../symbols.js';
import { describe } from '../util/describe.js';
import { checkCount, checkKeys, checkRange } from '../util/options.js';

export type { Encoding };

/** `compress()`'s options. */
export interface CompressOptions {
  /** Bodies smaller than this many bytes go out as they are: compressing them saves less than it costs. Default 1024. */
  threshold?: number;
  /** The encodings offered, the server's preference first (it breaks ties between equal q-values). Default `['br', 'gzip']`. */
  encodings?: readonly Encoding[];
  /** gzip's level, 1 (fastest) to 9 (smallest). Default 6. */
  gzipLevel?: number;
  /** Brotli's quality, 0 to 11. Default 4: near gzip's speed with smaller output (11 is for files compressed once, ahead of time). */
  brotliQuality?: number;
}

/**
 * Types worth compressing: text and the textual formats (JSON, XML,
 * JavaScript, SVG, ...). Images, audio, video, archives and fonts are
 * compressed already, and are left as they are.
 */
const COMPRESSIBLE = /^(?:text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|javascript|ecmascript|x-ndjson|wasm|graphql|x-www-form-urlencoded)\b|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)\b)/i;
const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i;

const gzipAsync = promisify(zlib.gzip);
const brotliAsync = promisify(zlib.brotliCompress);

/**
 * Compresses response bodies with gzip or Brotli, as the client's
 * `Accept-Encoding` asks (q-values, `identity` and `*` understood), through
 * node:zlib: fixed bodies in the thread pool (Content-Length recomputed),
 * streams chunk by chunk, each chunk flushed so that a server-sent event is
 * not held back. Not compressed: HEAD, 1xx, 204, 304 and 206 responses, bodies
 * below `threshold` or that compression would not shrink, types compressed
 * already (images, archives, ...), a response with a Content-Encoding or
 * `Cache-Control: no-transform`. Each response that would be compressed as
 * a 200 gets `Vary: Accept-Encoding` (its 304 and 206 too: a 304 by the type
 * of its 200); a strong ETag becomes weak, since the bytes differ, and so
 * does a 304's for a client that takes an encoding. The
 * outcome's `bytesSent` counts the compressed bytes, those on the wire.
 *
 * Put it first in `middleware`, so that it compresses what the others produce.
 *
 * @example
 * ```ts
 * createApp({ middleware: [compress({ threshold: 1024 }), auth], routes });
 * ```
 */
export function compress(options: CompressOptions = {}): MiddlewareHooks {
  checkKeys('compress()', options, ['threshold', 'encodings', 'gzipLevel', 'brotliQuality']);
  const threshold = options.threshold === undefined ? 1024 : checkCount('compress(): threshold', options.threshold, 0);
  const encodings = checkEncodings(options.encodings ?? ['br', 'gzip']);
  const gzipLevel = checkRange('compress(): gzipLevel', options.gzipLevel ?? 6, 1, 9);
  const brotliQuality = checkRange('compress(): brotliQuality', options.brotliQuality ?? 4, 0, 11);
  const gzipOptions: zlib.ZlibOptions = { level: gzipLevel };
  const brotliOptions: zlib.BrotliOptions = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: brotliQuality } };

  const compressBytes = (bytes: Uint8Array, encoding: Encoding): Promise<Buffer> =>
    encoding === 'gzip' ? gzipAsync(bytes, gzipOptions) : brotliAsync(bytes, brotliOptions);

  const compressStream = (source: StreamSource, encoding: Encoding): Readable => {
    // Every write flushed: a chunk the app yields reaches the client without waiting for the next.
    const compressor = encoding === 'gzip'
      ? zlib.createGzip({ ...gzipOptions, flush: zlib.constants.Z_SYNC_FLUSH })
      : zlib.createBrotliCompress({ ...brotliOptions, flush: zlib.constants.BROTLI_OPERATION_FLUSH });
    // Destroying the compressor (the client went away) destroys the source, or returns its iterator.
    return pipeline(source instanceof Readable ? source : Readable.from(source, { objectMode: false }), compressor, () => {});
  };

  return {
    name: 'compress',
    processResponse(request: HttpRequest, response: HttpResponse): HttpResponse | Promise<HttpResponse> {
      if (!variesByEncoding(response)) return response;
      addVary(response, 'Accept-Encoding');
      if (request.method === 'HEAD') return response;
      const [encoding] = acceptedEncodings(request.headers.get('accept-encoding'), encodings);
      if (response.status === 304) return encoding === undefined ? response : weakened(response);
      if (!isWhole(response) || encoding === undefined) return response;
      if (response instanceof StreamingResponse) {
        const declared = response.headers.get('content-length');
        if (declared !== null && Number(declared) < threshold) return response;
        markEncoded(response, encoding);
        response[kTransformStream]((source) => compressStream(source, encoding));
        return response;
      }
      const { body } = response;
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      if (bytes === null || bytes.byteLength < threshold) return response;
      // Compressed, the text would go out as bytes, which the transport takes as they are.
      if (typeof body === 'string') checkSentText(response.headers, body, bytes.byteLength);
      return compressBytes(bytes, encoding).then((compressed) => {
        // Bytes that do not shrink (random, encrypted) go out as they are, as Django's GZipMiddleware sends them.
        if (compressed.byteLength >= bytes.byteLength) return response;
        // A copy: the response may be shared by other requests, whose clients may take another encoding or none.
        const encoded = copyResponse(response, compressed);
        markEncoded(encoded, encoding);
        return encoded;
      });
    },
  };
}

/**
 * Whether the response would be compressed as a 200 for a client that asks:
 * then it varies by Accept-Encoding, whether or not this one is compressed.
 * A 304 counts too, since it must carry the 200's Vary (RFC 9110 15.4.5). It
 * need not repeat the 200's Content-Type: staticFiles() leaves it off and
 * keeps it beside the response (representation-type.ts), so an image's 304
 * gets no Vary; a 304 whose type is not known at all gets one (an extra Vary
 * only splits a cache's entries, a missing one serves a client the wrong
 * variant). So does a 206, a range of the identity bytes.
 */
function variesByEncoding(response: HttpResponse): boolean {
  const { status, headers } = response;
  if (status < 200 || status === 204 || headers.has('content-encoding')) return false;
  const cacheControl = headers.get('cache-control');
  if (cacheControl !== null && NO_TRANSFORM.test(cacheControl)) return false;
  const type = representationType(response);
  return type === null ? status === 304 : COMPRESSIBLE.test(type);
}

/** Whether the response carries its whole representation, to compress: not a range of it. */
function isWhole({ status, headers }: HttpResponse): boolean {
  return status !== 206 && !headers.has('content-range');
}

/**
 * A 304 for a client that takes an encoding: its strong ETag made weak, as
 * its 200's is when compressed (RFC 9110 15.4.5: the 304 sends the 200's
 * validator), on a copy, as the 304 may be shared. Sent strong, a cache
 * holding the weak 200 found no response to update with it (RFC 9111
 * 4.3.4). A 200 under the threshold goes out strong: a weak 304 for it only
 * weakens the tag the cache keeps.
 */
function weakened(response: HttpResponse): HttpResponse {
  const etag = response.headers.get('etag');
  if (etag === null || !etag.startsWith('"')) return response;
  const copy = copyResponse(response, null);
  copy.headers.set('etag', `W/${etag}`);
  return copy;
}

/** The headers of a body now encoded: its length and ranges were those of the identity bytes. */
function markEncoded(response: HttpResponse, encoding: Encoding): void {
  const { headers } = response;
  headers.set('content-encoding', encoding);
  headers.delete('content-length');
  headers.delete('accept-ranges');
  const etag = headers.get('etag');
  if (etag !== null && etag.startsWith('"')) headers.set('etag', `W/${etag}`);
}

function checkEncodings(encodings: unknown): Encoding[] {
  if (!Array.isArray(encodings) || encodings.length === 0 || encodings.some((e) => e !== 'br' && e !== 'gzip')) {
    throw new TypeError(`compress(): encodings must be a non-empty list of 'br' and 'gzip', got ${describe(encodings)}`);
  }
  return [...new Set(encodings as Encoding[])];
}
