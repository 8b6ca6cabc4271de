import { constants, Http2ServerRequest } from 'node:http2';
import type { HttpRequest } from '../http/request.js';
import { serverOf } from '../transport/node/closing-servers.js';

/** What the event stream needs of the connection it is sent on. */
export interface StreamLink {
  /** The server that accepted the connection (undefined: none, as for app.fetch()). */
  readonly server: object | undefined;
  /** Bytes written and not yet taken by the client's side. */
  backlog(): number;
  /** Ends the stream at once, unsent bytes dropped: its own HTTP/2 stream reset, or its HTTP/1 connection closed. */
  cut(): void;
}

/** The link of the stream answering `request`: over HTTP/2 its own stream (its session serves on), else its connection. */
export function streamLink(request: HttpRequest): StreamLink {
  const raw = request.raw;
  if (raw instanceof Http2ServerRequest) {
    const stream = raw.stream;
    return { server: serverOf(raw.socket), backlog: () => stream.writableLength, cut: () => stream.close(constants.NGHTTP2_CANCEL) };
  }
  const socket = raw?.socket ?? undefined;
  return { server: serverOf(socket), backlog: () => socket?.writableLength ?? 0, cut: () => socket?.destroy() };
}
