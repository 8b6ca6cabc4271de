import { Readable } from 'node:stream';
import type { StreamSource } from '../http/response.js';

/** Whether a response to `method` with `status` carries a body: not for HEAD, 1xx, 204 or 304 (RFC 9110). */
export function sendsBody(method: string, status: number): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
}

/** Whether a status may ever carry a body (HEAD aside): its framing headers say nothing when not. */
export function bodiless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** Lets go of a stream that will not be read (on): a Readable is destroyed, an iterator's return() runs. */
export function releaseStream(source: StreamSource): void {
  if (source instanceof Readable) {
    source.destroy();
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  if (typeof iterator.return === 'function') {
    void Promise.resolve(iterator.return()).catch(() => {});
  }
}
