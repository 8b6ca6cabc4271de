import { realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { SendOptions, SendResult } from '@fastify/send';
import { rangeAnswer } from '../http/byte-ranges.js';
import { BadRequest, NotFound, PermissionDenied, ServiceUnavailable } from '../http/errors.js';
import { httpDate, ifMatchHolds, preconditionFailed } from '../http/preconditions.js';
import type { HttpRequest } from '../http/request.js';
import { setRepresentationType } from '../http/representation-type.js';
import { HttpResponse } from '../http/response.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { describe } from '../util/describe.js';
import { echo } from '../util/echo.js';
import { checkAmount, checkBoolean, checkKeys } from '../util/options.js';
import { toSlashForm } from './append-slash.js';
import { WHOLE, closeFile, describes, fileChunks, openInside, readWhole } from '../http/file-body.js';
import { fileRefusal } from '../http/file-errors.js';
import { fastifySend, fileContentType, fileMediaType } from '../http/file-type.js';
import { choosePreCompressed, varyingByEncoding, type Choice } from './pre-compressed.js';
import { route, type Route } from './routes.js';

/** `staticFiles()`'s options: `root` is required. */
export interface StaticFilesOptions {
  /** The folder served. Nothing outside it is ever sent: not through `..`, encoded or not, nor through a symlink. */
  root: string;
  /** `Cache-Control: public, max-age=...`, in milliseconds. Default 0. */
  maxAge?: number;
  /** Adds `immutable` to `Cache-Control`: for fingerprinted file names, with a long `maxAge`. Default false. */
  immutable?: boolean;
  /** The file sent for a directory path ending in `/`, in order of preference; false for none. Default `'index.html'`. */
  index?: string | readonly string[] | false;
  /**
   * Files and folders whose name starts with a dot: `'ignore'` (default)
   * answers 404 as if they did not exist, `'deny'` answers 403, `'allow'` serves them.
   */
  dotfiles?: 'ignore' | 'deny' | 'allow';
  /** Extensions tried, in order, for a path without one (`['html']` serves `/about` from `about.html`). */
  extensions?: readonly string[];
  /** A weak ETag (size and modification time), for conditional requests (304). Default true. */
  etag?: boolean;
  /** `Last-Modified`, for conditional requests. Default true. */
  lastModified?: boolean;
  /** Range requests (206, 416). Default true. */
  acceptRanges?: boolean;
  /**
   * Sends `name.br` or `name.gz`, when there is one beside `name` and the
   * request's Accept-Encoding takes it (by q-value, Brotli first on a tie), in
   * place of `name`: with `Content-Encoding`, `name`'s Content-Type, its own
   * length, ETag and ranges. One that is no regular file, or that the server
   * may not read, is passed over. Every answer then carries `Vary: Accept-Encoding`.
   * The compressed files must be kept current with their originals. Default false.
   */
  preCompressed?: boolean;
  /** Names the route for `app.reverse(name, { '*': 'css/site.css' })`. */
  name?: string;
}

const KEYS = ['root', 'maxAge', 'immutable', 'index', 'dotfiles', 'extensions', 'etag', 'lastModified', 'acceptRanges', 'preCompressed', 'name'];
const DOTFILES = ['ignore', 'deny', 'allow'];
/** The request headers @fastify/send is given: its conditions. It is never given a Range: the route answers that (byte-ranges.ts). */
const CONDITIONAL = ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'cache-control'];
/** The conditions that may hold a date: @fastify/send reads it with Date.parse. */
const DATED = ['if-modified-since', 'if-unmodified-since'];
const ENCODED_SLASH = /%2F|%5C/i;

/**
 * A GET (and HEAD) route that serves the files under `root` at `prefix`,
 * found through @fastify/send: a weak ETag and Last-Modified with
 * conditional requests (304, 412), a cache policy; the content type
 * (file-type.ts) and byte ranges (206, 416, byte-ranges.ts) by FileResponse's rules.
 * The route opens the file itself (file-body.ts): up to 64 KiB it is sent
 * whole with its head, larger it streams through Coda's response path; either
 * way after-response tasks run after its last byte and the outcome counts its
 * bytes. A file replaced (or written in place) between @fastify/send's look
 * and the route's open is looked at again, once; changed again, the answer is a 503. Bad paths are
 * refused: a NUL byte, a backslash or an encoded slash is a 400, `..` a 403;
 * a symlink that leads out of the root is a 404, as is a missing file, a
 * symlink loop, a dotfile (by default) and a directory without an index; a
 * file the server may not read is a 403 (see file-errors.ts).
 *
 * @example
 * ```ts
 * createApp({ routes: [staticFiles('/assets', { root: './public', maxAge: 86_400_000, immutable: true })] });
 * ```
 */
export function staticFiles(prefix: string, options: StaticFilesOptions): Route {
  const where = `staticFiles(${JSON.stringify(prefix)})`;
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) throw new TypeError(`staticFiles() prefix must start with "/", got ${describe(prefix)}`);
  if (prefix !== '/' && prefix.endsWith('/')) throw new TypeError(`${where}: the prefix must not end with "/"`);
  checkKeys(where, options, KEYS);
  const root = checkRoot(where, options.root);
  const sendOptions = checkSendOptions(where, options, root);
  const index = sendOptions.index !== false;
  const preCompressed = options.preCompressed ?? false;
  const send = fastifySend();
  const pattern = `${prefix === '/' ? '' : prefix}/*`;

  const serveWhole = (request: HttpRequest): Promise<HttpResponse> => serveOnce(request, false);
  // Under `preCompressed`, every answer carries `Vary: Accept-Encoding` (pre-compressed.ts).
  const serveFile = preCompressed ? varyingByEncoding(serveWhole) : serveWhole;

  /** Serves the file; `again` when the file was replaced once already while it was being served. */
  async function serveOnce(request: HttpRequest, again: boolean): Promise<HttpResponse> {
    const file = tail(request);
    checkPath(request.path, file);
    const shown = echo(request.path);
    if (!index && (file === '' || file.endsWith('/'))) throw new NotFound(`no file at ${shown}: a directory, and index is off`);
    const { result, encoding, original } = await choose(request, `/${file}`);
    if (result.type === 'directory') return toSlashForm(request, 301, `no file at ${shown}: a directory`, withoutDots(request.path));
    if (result.type !== 'file') throw await sendError(request, result);
    if (!ifMatchHolds(request.headers.get('if-match'), result.headers.ETag)) throw preconditionFailed(request.path);
    // A FIFO would hold the request, and a thread of libuv's pool, until something wrote to it; a device is no file either.
    if (!result.metadata.stat.isFile()) throw new NotFound(`no file at ${shown}: not a regular file`);
    const { headers, statusCode: status, metadata: { path: found, stat } } = result;
    const typedAs = original ?? found;
    // Ranges by FileResponse's rule (byte-ranges.ts), before the file is opened: a 416 never opens it.
    const range = status === 200 && sendOptions.acceptRanges === true ? rangeAnswer(request.headers, request.path, stat.size, headers.ETag, headers['Last-Modified']) : undefined;
    const fd = await openInside(found, root, shown);
    // Replaced since @fastify/send described it (a deploy renaming over it): its length, range and validators are another file's.
    if (!describes(stat, fd)) {
      closeFile(fd);
      if (again) throw new ServiceUnavailable(`${shown} changed while it was being sent, twice: try again`);
      return serveOnce(request, true);
    }
    if (status === 304) {
      closeFile(fd);
      // Without a body, so without a content type: a cache would store the 304's headers over the 200's.
      // The type is kept beside it, for compress() to decide its Vary as for the 200.
      return setRepresentationType(new HttpResponse(null, { status, headers }), fileMediaType(typedAs));
    }
    // Typed here only (@fastify/send is told not to), as FileResponse types it (file-type.ts); a pre-compressed file as the one it encodes.
    headers['Content-Type'] = fileContentType(typedAs);
    if (encoding !== undefined) headers['Content-Encoding'] = encoding;
    if (range !== undefined) {
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${stat.size}`;
      headers['Content-Length'] = String(range.end - range.start + 1);
    }
    const start = range?.start ?? 0;
    const length = Number(headers['Content-Length']);
    const answer = range === undefined ? status : 206;
    if (request.method === 'HEAD') {
      closeFile(fd);
      return new HttpResponse(null, { status: answer, headers });
    }
    if (length <= WHOLE) return new HttpResponse(await readWhole(fd, start, length, found), { status: answer, headers });
    return new StreamingResponse(fileChunks(fd, start, length), { status: answer, headers });
  }

  /** @fastify/send's answer for `file` (an encoded path under the root), to `conditions` (see headersOnly()). */
  async function look(conditions: Readable, file: string): Promise<SendResult> {
    const result = await send(conditions, file, sendOptions);
    // Asked as a HEAD: @fastify/send opens nothing, the route opens the file itself (file-body.ts).
    result.stream.destroy();
    return result;
  }

  /**
   * @fastify/send's answer for the request's `file`, or, under `preCompressed`,
   * for the `.br` or `.gz` beside it that pre-compressed.ts chooses.
   */
  async function choose(request: HttpRequest, file: string): Promise<Choice> {
    const conditions = headersOnly(request);
    if (!preCompressed) return { result: await look(conditions, file) };
    return choosePreCompressed(look, root, request.headers.get('accept-encoding'), conditions, file);
  }

  Object.defineProperty(serveFile, 'name', { value: `staticFiles(${prefix})` });
  return route(['GET', 'HEAD'], pattern, serveFile, options.name === undefined ? {} : { name: options.name });
}

function checkRoot(where: string, root: unknown): string {
  if (typeof root !== 'string' || root === '') throw new TypeError(`${where}: root must be a folder path, got ${describe(root)}`);
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    throw new TypeError(`${where}: root ${JSON.stringify(root)} does not exist`);
  }
  if (!statSync(real).isDirectory()) throw new TypeError(`${where}: root ${JSON.stringify(root)} is not a folder`);
  return real;
}

function checkSendOptions(where: string, options: StaticFilesOptions, root: string): SendOptions {
  const { maxAge = 0, dotfiles = 'ignore', index = 'index.html', extensions = [] } = options;
  checkAmount(`${where}: maxAge`, maxAge, 'milliseconds');
  if (!DOTFILES.includes(dotfiles)) throw new TypeError(`${where}: dotfiles must be 'ignore', 'deny' or 'allow', got ${describe(dotfiles)}`);
  const indexes = index === false ? [] : typeof index === 'string' ? [index] : index;
  if (!Array.isArray(indexes) || indexes.some((name) => typeof name !== 'string' || name === '' || name.includes('/'))) {
    throw new TypeError(`${where}: index must be a file name, a list of them, or false, got ${describe(index)}`);
  }
  if (!Array.isArray(extensions) || extensions.some((ext) => typeof ext !== 'string' || ext === '' || ext.startsWith('.'))) {
    throw new TypeError(`${where}: extensions must be a list of extensions without their dot (['html']), got ${describe(extensions)}`);
  }
  for (const key of ['immutable', 'etag', 'lastModified', 'acceptRanges', 'preCompressed'] as const) {
    if (options[key] !== undefined) checkBoolean(`${where}: ${key}`, options[key]);
  }
  return {
    root,
    maxAge,
    immutable: options.immutable ?? false,
    index: indexes.length === 0 ? false : [...indexes],
    dotfiles,
    extensions: [...extensions],
    etag: options.etag ?? true,
    lastModified: options.lastModified ?? true,
    acceptRanges: options.acceptRanges ?? true,
    // Typed by the route alone, by file-type.ts's rule (FileResponse's).
    contentType: false,
  };
}

/** The encoded part of the request's path after the route's prefix: what the trailing `*` matched, undecoded. */
function tail(request: HttpRequest): string {
  let slashes = 0;
  for (const char of request.route!) if (char === '/') slashes++;
  let at = -1;
  for (let i = 0; i < slashes; i++) at = request.path.indexOf('/', at + 1);
  return request.path.slice(at + 1);
}

/**
 * Refuses what could lead out of the root, or means a different file on
 * another system, before the file system is asked. `..` is refused anywhere
 * in the path, a prefix's params included: `/app/../deep/x` means `/deep/x`
 * to a client or a proxy, not a file under `/app`. Broken percent-encoding
 * and an encoded NUL never get here: the router refuses them.
 */
function checkPath(full: string, file: string): void {
  const shown = JSON.stringify(echo(full));
  if (file.includes('\\') || ENCODED_SLASH.test(file)) {
    throw new BadRequest(`the path ${shown} holds a backslash or an encoded slash, which static files refuse`);
  }
  // The path has its encoded dots decoded already (request.path).
  if (full.split('/').includes('..')) throw new PermissionDenied(`the path ${shown} climbs out of the static root with ".."`);
}

/**
 * The path without its `.` segments (`..` is refused before): a folder's
 * redirect goes to its canonical form, `/assets/` for `/assets/.`, not to
 * `/assets/./`, which a client resolves to the former (RFC 3986 5.2.4) but a
 * cache or log keeps apart.
 */
function withoutDots(path: string): string {
  return path.includes('/.') ? path.split('/').filter((segment) => segment !== '.').join('/') : path;
}

/**
 * What @fastify/send reads of a request: its conditional headers, and HEAD
 * for its method, so that it answers with the headers only and opens
 * nothing: the route reads the file (file-body.ts). A date is given as an
 * IMF-fixdate, and an If-Modified-Since or If-Unmodified-Since that is no
 * HTTP-date (RFC 9110 5.6.7) is left out, as RFC 9110 13.1.3 and 13.1.4
 * have it ignored (@fastify/send's Date.parse took '3100' for a date, and
 * read asctime in the server's time zone). An If-Unmodified-Since beside an If-Match is left out: RFC
 * 9110 13.2.2 has it ignored then, and @fastify/send still answered 412 by
 * it once the If-Match held. (It ignores an If-Modified-Since beside an
 * If-None-Match itself.)
 */
function headersOnly(request: HttpRequest): Readable {
  const headers: Record<string, string> = {};
  for (const name of CONDITIONAL) {
    const value = request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  if (headers['if-match'] !== undefined) delete headers['if-unmodified-since'];
  for (const name of DATED) {
    const value = headers[name];
    const date = value === undefined ? undefined : httpDate(value);
    if (date !== undefined) headers[name] = new Date(date).toUTCString();
    else delete headers[name];
  }
  return { method: 'HEAD', headers } as unknown as Readable;
}

/** The HttpError for what @fastify/send refused, with a message that names the path. */
async function sendError(request: HttpRequest, result: SendResult): Promise<Error> {
  const shown = echo(request.path);
  const error = result.type === 'error' ? result.metadata.error : undefined;
  switch (result.statusCode) {
    case 400: return new BadRequest(`bad static file path ${JSON.stringify(shown)}`);
    case 403: return new PermissionDenied(`${shown} is not served`);
    case 404: return request.path.endsWith('/') ? new NotFound(await noIndex(shown, error)) : new NotFound(`no file at ${shown}`);
    case 412: return preconditionFailed(request.path);
    // A symlink loop, a file the server may not read: the client's 404 or 403, not a 500 logged as the server's error.
    default: return error === undefined ? new Error(`static file ${shown}: status ${result.statusCode}`) : fileRefusal(error, shown) ?? error;
  }
}

/** Why a folder path (ending in `/`) is a 404: no index file in it, or it names a file (`/s/a.txt/`: the index looked for under a file, ENOTDIR). */
async function noIndex(shown: string, error: Error | undefined): Promise<string> {
  const looked = (error as NodeJS.ErrnoException | undefined)?.path;
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ENOTDIR' && looked !== undefined && await isFile(path.dirname(looked))) {
    return `${shown} names a file, not a folder: no index file in it`;
  }
  return `no index file in ${shown}`;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
