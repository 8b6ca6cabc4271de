import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe } from '../util/describe.js';
import { echo } from '../util/echo.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { contentDisposition } from './content-disposition.js';
import { kAnswerRequest } from '../symbols.js';
import { rangeAnswer, type ByteRange } from './byte-ranges.js';
import { ProgrammingError, ServiceUnavailable } from './errors.js';
import { closeFile, describes, fileChunks, openFile } from './file-body.js';
import { fileRefusal } from './file-errors.js';
import { fileContentType } from './file-type.js';
import { ResponseHeaders } from './headers.js';
import { notModified } from './not-modified.js';
import { conditionsAnswer, httpDate, preconditionFailed } from './preconditions.js';
import type { HttpRequest } from './request.js';
import type { HttpResponse, ResponseInit } from './response.js';
import { StreamingResponse } from './streaming-response.js';

/** `FileResponse`'s options: a response's `status` and `headers`, and how the file is offered. */
export interface FileResponseOptions extends ResponseInit {
  /** `Content-Disposition: attachment` (the browser saves the file) rather than `inline` (it shows it). Default false. */
  asAttachment?: boolean;
  /** The name the client is offered (its last segment, if a path), and the one the Content-Type is guessed from. Default: the path's (or a file stream's) last segment. */
  filename?: string;
  /** A weak ETag from a path's size and modification time (as `staticFiles()`'), for conditional requests (304, 412). Default true. */
  etag?: boolean;
  /** A path's `Last-Modified`, from its modification time, for conditional requests. Default true. */
  lastModified?: boolean;
  /** Byte ranges (206, 416) of a path or bytes, and `Accept-Ranges: bytes` on the 200. Default true. */
  acceptRanges?: boolean;
}

const KEYS = ['status', 'headers', 'asAttachment', 'filename', 'etag', 'lastModified', 'acceptRanges'];

/**
 * A response that sends a file: a download, a generated report, a user's
 * upload. Django's `FileResponse`, Express's `res.sendFile()`/`res.download()`.
 * A class beside `HttpResponse`, `JsonResponse` and `StreamingResponse` (it is
 * one: its body streams, with backpressure), named as Django names it.
 *
 * `file` is a path, bytes, or a Readable (a named pipe's, a generated
 * report's). A path is looked at (its stat) here, as Django's is, so that
 * the headers are whole for the middleware that reads them: a missing file is
 * a 404 `NotFound` naming its last segment only (a 404's message reaches the
 * client); a folder or anything but a regular file is a `ProgrammingError`
 * naming the path, a 500. It is opened only when the response is sent (never
 * for a HEAD) and closed after its last byte or when the client leaves; a
 * file removed in between is a 404, one replaced a 503. The path is sent as
 * given: one built from the request must be confined by the view (see
 * docs/web.md), as `staticFiles()` confines its own.
 *
 * Headers: Content-Type by the filename's extension as `staticFiles()` types
 * it, and Content-Disposition (`attachment` with `asAttachment`, else `inline`
 * when there is a filename; a name beyond ASCII as RFC 8187's `filename*`
 * after an ASCII `filename`), each unless given in `headers`; Content-Length,
 * the file's size or the bytes' length (a Readable's is unknown: it is sent chunked).
 * A path's validators: a weak ETag from its size and modification time and
 * its Last-Modified, each unless given in `headers` or turned off.
 *
 * When it is sent, as a 200 to a GET or HEAD, it answers the request's
 * conditions (RFC 9110 13.2.2, as `conditionalGet()` does: 412, 304) and,
 * for a path or bytes (whose length is known) that still say
 * `Accept-Ranges: bytes` (compress() drops it from a body it encodes), its
 * Range: one range is a 206, none satisfiable a 416 with `Content-Range:
 * bytes *\/size`, several apart the whole file (as `staticFiles()` answers
 * them), and a Range that is malformed, of another unit or whose If-Range
 * fails is ignored: the 200. See docs/web.md.
 *
 * @example
 * ```ts
 * get('/reports/:id', (request) => new FileResponse(`var/reports/${Number(request.params.id)}.pdf`, {
 *   asAttachment: true, filename: 'report.pdf',
 * }));
 * ```
 */
export class FileResponse extends StreamingResponse {
  /**
   * Settles once the file is closed: after its last byte, when the client
   * leaves mid-download, or when it is let go unopened (a HEAD). For work
   * that needs the file shut, such as removing a temporary one.
   */
  readonly closed: Promise<void>;
  /** The length of a path's or bytes' body, which a range is taken of; undefined for a Readable's. */
  readonly #size: number | undefined;
  /** The range a 206 sends, set when the request is answered; the whole body until then. */
  readonly #chosen: { range?: ByteRange };

  constructor(file: string | Uint8Array | Readable, options: FileResponseOptions = {}) {
    checkKeys('FileResponse', options, KEYS);
    const { asAttachment = false, filename, status, etag = true, lastModified = true, acceptRanges = true } = options;
    for (const [key, value] of Object.entries({ asAttachment, etag, lastModified, acceptRanges })) checkBoolean(`FileResponse: ${key}`, value);
    if (filename !== undefined && typeof filename !== 'string') throw new TypeError(`FileResponse: filename must be a string, got ${describe(filename)}`);
    let close!: () => void;
    const closed = new Promise<void>((resolve) => (close = resolve));
    const opening = { started: false };
    const headers = new ResponseHeaders(options.headers);
    let source: Readable | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);
    let name: string | undefined;
    let size: number | undefined;
    // The opener reads the range the request chose (kAnswerRequest), set before the response is sent.
    const chosen: { range?: ByteRange } = {};
    const range = (): ByteRange => chosen.range ?? { start: 0, end: size! - 1 };
    if (typeof file === 'string') {
      const stat = lookAt(file);
      name = path.basename(file);
      size = stat.size;
      // As @fastify/send's (the etag package's): size and modification time (Stats.mtime's, rounded to the millisecond), in hexadecimal.
      if (etag && !headers.has('etag')) headers.set('etag', `W/"${stat.size.toString(16)}-${stat.mtime.getTime().toString(16)}"`);
      if (lastModified && !headers.has('last-modified')) headers.set('last-modified', stat.mtime.toUTCString());
      source = () => openedOnRead(file, stat, range(), opening, close);
    } else if (file instanceof Uint8Array) {
      size = file.byteLength;
      source = () => bytesOf(file, range());
      close();
    } else if (file instanceof Readable) {
      // A file's stream names its file, as Django reads a file object's name.
      const streamed = (file as Partial<{ path: unknown }>).path;
      if (typeof streamed === 'string') name = path.basename(streamed);
      if (file.closed) close();
      else file.once('close', close);
      source = file;
    } else {
      throw new TypeError(`FileResponse takes a path, a Uint8Array or a Readable, got ${describe(file)}`);
    }
    // Its last segment only, as Django's: a path given for it offers no folder names to the client.
    name = filename === undefined || filename === '' ? name : path.basename(filename);
    if (!headers.has('content-type')) headers.set('content-type', name === undefined ? 'application/octet-stream' : fileContentType(name));
    const disposition = contentDisposition('FileResponse', asAttachment, name);
    if (disposition !== undefined && !headers.has('content-disposition')) headers.set('content-disposition', disposition);
    if (size !== undefined) {
      headers.set('content-length', String(size));
      if (acceptRanges && !headers.has('accept-ranges')) headers.set('accept-ranges', 'bytes');
    }
    super(source, { status, headers });
    this.closed = closed;
    this.#size = size;
    this.#chosen = chosen;
    // Let go unopened (a HEAD, a client gone before): nothing to close. Opening, the chunks close it.
    if (typeof file === 'string') this.signal.addEventListener('abort', () => opening.started || close(), { once: true });
  }

  /**
   * @internal What this response answers `request` with, when it is sent
   * (the app's journal step, after every middleware): itself (a 200, or a
   * 206 of the range asked), a 304, or a 412 or 416 thrown as an HttpError.
   * Only a 200 to a GET or HEAD is answered: another status (a custom 404
   * page) or method goes out as it is, another status without Accept-Ranges. Read from the headers as they are
   * now, so that a middleware's change (compress()'s encoding, its weakened
   * ETag) counts.
   */
  [kAnswerRequest](request: HttpRequest): HttpResponse {
    const { method, headers } = request;
    // Never ranged with another status (a custom 404 page): saying it takes ranges would mislead a client that resumes.
    if (this.status !== 200) this.headers.delete('accept-ranges');
    if ((method !== 'GET' && method !== 'HEAD') || this.status !== 200) return this;
    const etag = this.headers.get('etag') ?? undefined;
    const lastModified = this.headers.get('last-modified') ?? undefined;
    const answer = conditionsAnswer(headers, etag, lastModified === undefined ? undefined : httpDate(lastModified));
    if (answer === 412) throw preconditionFailed(request.path);
    if (answer === 304) return notModified(this);
    const size = this.#size;
    // A body encoded on the way (compress() drops Accept-Ranges then) has another length: its ranges are not the file's.
    if (size === undefined || this.headers.get('accept-ranges') !== 'bytes' || this.headers.get('content-length') !== String(size)) return this;
    const range = rangeAnswer(headers, request.path, size, etag, lastModified);
    if (range === undefined) return this;
    this.#chosen.range = range;
    this.status = 206;
    this.headers.set('content-range', `bytes ${range.start}-${range.end}/${size}`);
    this.headers.set('content-length', String(range.end - range.start + 1));
    return this;
  }
}

/** The bytes of `range` (the whole of them by default), in one chunk. */
async function* bytesOf(bytes: Uint8Array, range: ByteRange): AsyncGenerator<Uint8Array, void, undefined> {
  yield range.start === 0 && range.end === bytes.byteLength - 1 ? bytes : bytes.subarray(range.start, range.end + 1);
}

/** The file's stat: a missing one a 404 naming its last segment, a folder (or a FIFO, a device) a ProgrammingError naming the path. */
function lookAt(file: string): Stats {
  let stat: Stats;
  try {
    stat = statSync(file);
  } catch (error) {
    throw fileRefusal(error, echo(path.basename(file))) ?? error;
  }
  if (!stat.isFile()) throw new ProgrammingError(`FileResponse: ${JSON.stringify(file)} is ${stat.isDirectory() ? 'a folder' : 'not a regular file'}, not a file it can send`);
  return stat;
}

/**
 * A file's chunks (those of `range`), opened on the first read (the response is being sent) and
 * closed as `fileChunks()` closes them (a return() that comes while the file
 * opens waits for its first chunk: the generator's queue); `closed` is called
 * once the file is closed. `opening.started` tells the response's signal the
 * file is this generator's to close.
 */
async function* openedOnRead(file: string, stat: Stats, range: ByteRange, opening: { started: boolean }, closed: () => void): AsyncGenerator<Uint8Array, void, undefined> {
  opening.started = true;
  const shown = echo(path.basename(file));
  let fd: number;
  try {
    fd = await openFile(file, shown);
  } catch (error) {
    closed();
    throw error;
  }
  // Replaced since it was looked at: its Content-Length is another file's.
  if (!describes(stat, fd)) {
    closeFile(fd, closed);
    throw new ServiceUnavailable(`${shown} changed between the response was made and sent: try again`);
  }
  yield* fileChunks(fd, range.start, range.end - range.start + 1, closed);
}
