import type { ServerResponse } from 'node:http';
import type { Exchange } from '../../after/exchange.js';
import { StreamingResponse, type StreamSource } from '../../http/response.js';
import { kNodeHeaders } from '../../symbols.js';
import { bodiless, releaseStream } from '../body.js';

/**
 * Writes `response` to Node's `ServerResponse`: fixed bodies in one `end()`
 * with a Content-Length, streams chunk by chunk, waiting for `'drain'` when
 * the socket is full (backpressure), stopping when the client goes away.
 */
export function send(res: ServerResponse, exchange: Exchange): void {
  const { request } = exchange;
  const response = exchange.response!;
  const headers = response.headers[kNodeHeaders]();
  if (response instanceof StreamingResponse) {
    res.writeHead(response.status, headers);
    if (request.method === 'HEAD' || bodiless(response.status)) {
      // Node drops the writes without backpressure: pumping would read the
      // whole stream for nothing, forever if it never ends.
      res.end();
      releaseStream(response.stream);
      return;
    }
    void pump(response.stream, res, exchange);
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
  exchange.bytesSent = request.method === 'HEAD' ? 0 : length;
}

async function pump(source: StreamSource, res: ServerResponse, exchange: Exchange): Promise<void> {
  try {
    // Leaving the loop early (client gone) calls the source's return(): a
    // generator's finally blocks run, a Readable is destroyed.
    for await (const chunk of source) {
      if (res.destroyed) break;
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      exchange.bytesSent += bytes.length;
      if (!res.write(bytes) && !(await drained(res))) break;
    }
  } catch (error) {
    exchange.error = error;
    const { request } = exchange;
    request.log.error({ err: error, method: request.method, path: request.path }, 'streaming response failed mid-way; connection closed');
    res.destroy();
    return;
  }
  if (!res.destroyed) res.end();
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
