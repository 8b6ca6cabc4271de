import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { HttpRequest, RequestSource } from '../../http/request.js';
import { kClientLeft } from '../../symbols.js';
import { keepUnreadFailure } from '../../util/unread-failure.js';

/**
 * A Web `Request` as Coda takes every request: its path and query as the
 * target, its headers as node:http gives them (a Host from the URL when it
 * has none), its body streamed as it is read, under the app's body limit.
 * An https URL is a TLS connection: where a fetch handler is the interface,
 * the host that terminated TLS writes the scheme (so cookies are Secure).
 */
export function fetchSource(request: Request): RequestSource {
  const source = fetchHead(request);
  // A host errors the stream when its client goes mid-upload: a read then fails (ClientDisconnected, as over a socket), read or not.
  if (request.body !== null) source.body = keepUnreadFailure(Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>));
  return source;
}

/** The same without the body, for a request whose body another framework reads (reading it here would lock the stream). */
export function fetchHead(request: Request): RequestSource {
  const url = new URL(request.url);
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of request.headers) headers[name] = value;
  headers.host ??= url.host;
  return { method: request.method, url: url.pathname + url.search, headers, body: null, encrypted: url.protocol === 'https:' };
}

/**
 * Aborts `request.signal` when the Web Request's `signal` aborts (how a host
 * says its client went away) while the view works, as a socket's close does,
 * and fails a read of `body` (ClientDisconnected): a body that stalls held
 * its view for good; returns how to stop (the response then follows the
 * signal itself).
 */
export function followClient(request: HttpRequest, body: Readable | null, signal: AbortSignal): () => void {
  const onAbort = (): void => {
    request[kClientLeft]();
    body?.destroy();
  };
  if (signal.aborted) {
    onAbort();
    return () => {};
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
