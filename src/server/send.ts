import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpRequest } from '../http/request.js';
import { StreamingResponse, type HttpResponse, type StreamSource } from '../http/response.js';

/** What the writer learnt while sending, for the request's `Outcome`. */
export interface Delivery {
  bytesSent: number;
  error: unknown;
}

/** Statuses that never carry a body (RFC 9110). */
export function bodiless(status: number): boolean {
  return status === 204 || status === 304 || status < 200;
}

/**
 * Writes `response` to Node's `ServerResponse`: fixed bodies in one `end()`
 * with a Content-Length, streams chunk by chunk, waiting for `'drain'` when
 * the socket is full (backpressure), stopping when the client goes away.
 */
export function send(res: ServerResponse, response: HttpResponse, request: HttpRequest, delivery: Delivery): void {
  const headers = response.headers.toNodeHeaders();
  if (response instanceof StreamingResponse) {
    res.writeHead(response.status, headers);
    if (request.method === 'HEAD' || bodiless(response.status)) {
      // Node drops the writes without backpressure: pumping would read the
      // whole stream for nothing, forever if it never ends.
      res.end();
      release(response.stream);
      return;
    }
    void pump(response.stream, res, request, delivery);
    return;
  }
  const body = response.body;
  if (body === null || bodiless(response.status)) {
    if (!bodiless(response.status)) headers['content-length'] = '0';
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  headers['content-length'] = String(length);
  res.writeHead(response.status, headers);
  res.end(body);
  delivery.bytesSent = request.method === 'HEAD' ? 0 : length;
}

async function pump(source: StreamSource, res: ServerResponse, request: HttpRequest, delivery: Delivery): Promise<void> {
  try {
    // Leaving the loop early (client gone) calls the source's return(): a
    // generator's finally blocks run, a Readable is destroyed.
    for await (const chunk of source) {
      if (res.destroyed) break;
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      delivery.bytesSent += bytes.length;
      if (!res.write(bytes) && !(await drained(res))) break;
    }
  } catch (error) {
    delivery.error = error;
    request.log.error({ err: error, method: request.method, path: request.path }, 'streaming response failed mid-way; connection closed');
    res.destroy();
    return;
  }
  if (!res.destroyed) res.end();
}

/** Lets go of a stream that will not be read: a Readable is destroyed, an iterator's return() runs. */
export function release(source: StreamSource): void {
  if (source instanceof Readable) {
    source.destroy();
    return;
  }
  const iterator = source[Symbol.asyncIterator]();
  if (typeof iterator.return === 'function') {
    void Promise.resolve(iterator.return()).catch(() => {});
  }
}

/** Resolves true on `'drain'`, false if the response closed first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = (): void => { res.off('close', onClose); resolve(true); };
    const onClose = (): void => { res.off('drain', onDrain); resolve(false); };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
