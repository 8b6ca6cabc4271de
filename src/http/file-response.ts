import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe } from '../util/describe.js';
import { echo } from '../util/echo.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { contentDisposition } from './content-disposition.js';
import { ProgrammingError, ServiceUnavailable } from './errors.js';
import { closeFile, describes, fileChunks, openFile } from './file-body.js';
import { fileRefusal } from './file-errors.js';
import { fileContentType } from './file-type.js';
import { ResponseHeaders } from './headers.js';
import { StreamingResponse, type ResponseInit } from './response.js';

/** `FileResponse`'s options: a response's `status` and `headers`, and how the file is offered. */
export interface FileResponseOptions extends ResponseInit {
  /** `Content-Disposition: attachment` (the browser saves the file) rather than `inline` (it shows it). Default false. */
  asAttachment?: boolean;
  /** The name the client is offered (its last segment, if a path), and the one the Content-Type is guessed from. Default: the path's (or a file stream's) last segment. */
  filename?: string;
}

const KEYS = ['status', 'headers', 'asAttachment', 'filename'];

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

  constructor(file: string | Uint8Array | Readable, options: FileResponseOptions = {}) {
    checkKeys('FileResponse', options, KEYS);
    const { asAttachment = false, filename, status } = options;
    checkBoolean('FileResponse: asAttachment', asAttachment);
    if (filename !== undefined && typeof filename !== 'string') throw new TypeError(`FileResponse: filename must be a string, got ${describe(filename)}`);
    let close!: () => void;
    const closed = new Promise<void>((resolve) => (close = resolve));
    const opening = { started: false };
    const headers = new ResponseHeaders(options.headers);
    let source: Readable | AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);
    let name: string | undefined;
    if (typeof file === 'string') {
      const stat = lookAt(file);
      name = path.basename(file);
      headers.set('content-length', String(stat.size));
      source = () => openedOnRead(file, stat, opening, close);
    } else if (file instanceof Uint8Array) {
      headers.set('content-length', String(file.byteLength));
      source = { async *[Symbol.asyncIterator]() { yield file; } };
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
    super(source, { status, headers });
    this.closed = closed;
    // Let go unopened (a HEAD, a client gone before): nothing to close. Opening, the chunks close it.
    if (typeof file === 'string') this.signal.addEventListener('abort', () => opening.started || close(), { once: true });
  }
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
 * A file's chunks, opened on the first read (the response is being sent) and
 * closed as `fileChunks()` closes them (a return() that comes while the file
 * opens waits for its first chunk: the generator's queue); `closed` is called
 * once the file is closed. `opening.started` tells the response's signal the
 * file is this generator's to close.
 */
async function* openedOnRead(file: string, stat: Stats, opening: { started: boolean }, closed: () => void): AsyncGenerator<Uint8Array, void, undefined> {
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
  yield* fileChunks(fd, 0, stat.size, closed);
}
