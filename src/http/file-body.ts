import { close, constants, fstatSync, open, read, readlinkSync, type Stats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { NotFound } from './errors.js';
import { fileRefusal } from './file-errors.js';

/** Files (or ranges) up to this size are read whole and sent with their head in one write. */
export const WHOLE = 64 * 1024;

/**
 * Larger ones stream in chunks of this size, one read at a time: half the
 * reads and writes of a 64 KiB stream, and no more held per response than a
 * Readable's 64 KiB chunk and the 64 KiB it reads ahead.
 */
const CHUNK = 128 * 1024;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Read only, and without waiting: a file swapped for a FIFO after it was
 * found a regular file opens at once (and reads as empty), not when some
 * writer comes, holding a thread of libuv's pool until then. Regular files
 * ignore the flag. (Windows has none.)
 */
const READ = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Linux names an open file's real path in /proc/self/fd; without it (another system, a sandbox) the path is resolved instead. */
let fdLinks = process.platform === 'linux';

/**
 * Opens `file` for reading (`shown`: the request's path, for a 404), and checks where the open file really is: a file
 * reached through a symlink that leads out of `root` (a real path) is as good
 * as missing. The check is of the descriptor the bytes are then read from, so
 * a symlink swapped after it cannot lead elsewhere.
 */
export async function openInside(file: string, root: string, shown: string): Promise<number> {
  const fd = await openFile(file, shown);
  let real: string;
  try {
    real = await realPathOf(fd, file);
  } catch (error) {
    closeFile(fd);
    throw error;
  }
  if (!isInside(real, root)) {
    closeFile(fd);
    throw new NotFound('no file there: it leads out of the static root');
  }
  return fd;
}

/** Whether the real path `real` is `root` (a real path) or under it. */
function isInside(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * Opens `file` for reading, without waiting on a FIFO (see `READ`). A file
 * removed since it was looked at, or not readable by this process (its stat
 * needs no read permission), is the HttpError `fileRefusal()` gives, naming `shown`.
 */
export async function openFile(file: string, shown: string): Promise<number> {
  try {
    return await new Promise<number>((resolve, reject) => open(file, READ, (error, opened) => (error === null ? resolve(opened) : reject(error))));
  } catch (error) {
    throw fileRefusal(error, shown) ?? error;
  }
}

async function realPathOf(fd: number, file: string): Promise<string> {
  if (fdLinks) {
    try {
      // A link in procfs: read from memory, no disk, so not worth a trip to the thread pool.
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      fdLinks = false;
    }
  }
  return realpath(file);
}

/**
 * Whether the open file is the one `stat` (of its path, taken before it was
 * opened) describes: the same inode, size and modification time. A file
 * renamed over the path in between is another.
 */
export function describes(stat: Stats, fd: number): boolean {
  // The inode of an open file is in memory: not worth a trip to the thread pool.
  const opened = fstatSync(fd);
  return opened.ino === stat.ino && opened.dev === stat.dev && opened.size === stat.size && opened.mtimeMs === stat.mtimeMs;
}

/** Closes a descriptor the route is done with; nothing waits on it (but `closed`, called once it is), and a failed close leaves nothing to do. */
export function closeFile(fd: number, closed: () => void = ignore): void {
  close(fd, () => closed());
}

function ignore(): void {}

function readAt(fd: number, bytes: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, bytes, at, length, position, (error, count) => (error === null ? resolve(count) : reject(error))));
}

/** The `length` bytes of `fd` from `start`, read whole; the descriptor is closed after. `file` names it in the error. */
export async function readWhole(fd: number, start: number, length: number, file: string): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  try {
    for (let got = 0; got < length;) {
      const count = await readAt(fd, bytes, got, length - got, start + got);
      // The bytes past `got` were never written: they must not be sent.
      if (count === 0) throw new Error(`static file ${file} shrank while it was read: ${got} of the ${length} bytes it had`);
      got += count;
    }
  } finally {
    closeFile(fd);
  }
  return bytes;
}

/**
 * The `length` bytes of `fd` from `start` as an async iterable of chunks,
 * each read when the response asks for it. The descriptor is closed after
 * the last byte, on a failed read, or when the response stops early
 * (`return()`), never while a read is in flight (its number could be reused
 * by then); `closed` is called once it is. A file that shrank ends early:
 * the response's Content-Length then cuts it.
 */
export function fileChunks(fd: number, start: number, length: number, closed?: () => void): AsyncIterableIterator<Uint8Array> {
  return new FileChunks(fd, start, start + length, closed);
}

class FileChunks implements AsyncIterableIterator<Uint8Array> {
  readonly #fd: number;
  #position: number;
  readonly #end: number;
  #reading = false;
  #open = true;
  /** return() came during a read: the read closes the descriptor once it is back. */
  #returned = false;
  readonly #closed: (() => void) | undefined;

  constructor(fd: number, start: number, end: number, closed: (() => void) | undefined) {
    this.#fd = fd;
    this.#position = start;
    this.#end = end;
    this.#closed = closed;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#open || this.#returned) return DONE;
    const bytes = Buffer.allocUnsafe(Math.min(CHUNK, this.#end - this.#position));
    let count: number;
    this.#reading = true;
    try {
      count = await readAt(this.#fd, bytes, 0, bytes.length, this.#position);
    } catch (error) {
      this.#close();
      throw error;
    } finally {
      this.#reading = false;
    }
    this.#position += count;
    if (count === 0 || this.#position >= this.#end || this.#returned) this.#close();
    if (count === 0) return DONE;
    return { done: false, value: count === bytes.length ? bytes : bytes.subarray(0, count) };
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    this.#returned = true;
    if (!this.#reading) this.#close();
    return DONE;
  }

  #close(): void {
    if (!this.#open) return;
    this.#open = false;
    closeFile(this.#fd, this.#closed);
  }
}
