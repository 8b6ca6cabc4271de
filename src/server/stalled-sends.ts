import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { kCutOff } from '../symbols.js';
import type { CutOff } from '../transport/node/response.js';
import { http1Connections, sweepEvery } from './connection-sweep.js';

/**
 * Node's socket internals read here. `writeQueueSize` is the libuv handle's
 * live count of bytes the kernel has not taken yet: it falls as the client
 * reads, even in the middle of one large write, which `writableLength` (the
 * stream's) does not show. A TLS socket's encrypted bytes queue on the TCP
 * socket under it (`_parent`).
 */
interface NodeSocket extends Socket {
  _handle?: { writeQueueSize?: unknown } | null;
  _parent?: NodeSocket | null;
  _httpMessage?: (ServerResponse & { req?: IncomingMessage; [kCutOff]?: CutOff }) | null;
}

/** What a connection's output looked like at the last sweep, and since when it has not moved. */
interface Pending {
  queued: number;
  buffered: number;
  since: number;
}

/**
 * Closes an HTTP/1.x connection whose client has taken none of its response
 * for `timeoutMs`, as nginx's `send_timeout` does: without it, a client that
 * stops reading (a paused socket, a slow-read attack) holds its connection,
 * the answers buffered for it and its requests' after() tasks until it
 * leaves, which may be never. Only output waiting for the client counts: a
 * view still working, or a stream with nothing to send (server-sent events
 * between events), is not stalled. The response's `'close'` then finishes its
 * exchange with `outcome.aborted`, and its tasks run. Checked by a sweep
 * (every quarter of the timeout, at most each second): nothing is added to a
 * request's path; a sweep that comes late, the process itself held up,
 * starts every count again. A socket whose queue Node does not show is left
 * alone, never judged on a guess. An HTTP/2 stream so stalled is reset (see
 * cutStream).
 */
export function closeStalledSends(server: NetServer, encrypted: boolean, timeoutMs: number, logger: Logger): void {
  if (timeoutMs === 0) return;
  const watched = http1Connections<Pending, NodeSocket>(server, encrypted);
  // An HTTP/2 server's streams: flow control bounds what one may send, not how long it may wait.
  const streams = new Map<ServerHttp2Stream, WatchedStream>();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    streams.set(stream, { headers, last: undefined });
    stream.once('close', () => streams.delete(stream));
  });
  let sweptAt = performance.now();
  sweepEvery(server, timeoutMs, (everyMs) => {
    const now = performance.now();
    // A late sweep means this process was held up (a long task, the machine): its clients could not be served meanwhile.
    const late = now - sweptAt > 2 * everyMs;
    sweptAt = now;
    for (const [socket, last] of watched) {
      const next = pendingOutput(socket, late ? undefined : last, now);
      if (next !== undefined && now - next.since >= timeoutMs) close(socket, timeoutMs, logger);
      else watched.set(socket, next);
    }
    for (const [stream, watching] of streams) {
      const next = pendingStreamOutput(stream, late ? undefined : watching.last, now);
      if (next !== undefined && now - next.since >= timeoutMs) cutStream(stream, watching.headers, timeoutMs, logger);
      else watching.last = next;
    }
  });
}

/** An HTTP/2 stream being watched: its request's head, for the warning, and its output at the last sweep. */
interface WatchedStream {
  readonly headers: IncomingHttpHeaders;
  last: Pending | undefined;
}

/** The socket's output waiting for the client, carrying `since` over while none of it has moved; undefined when none waits (or Node does not say). */
function pendingOutput(socket: NodeSocket, last: Pending | undefined, now: number): Pending | undefined {
  const queued = (socket._parent ?? socket)._handle?.writeQueueSize;
  if (socket.destroyed || typeof queued !== 'number') return undefined;
  return pending(socket.writableLength, queued, last, now);
}

/**
 * An HTTP/2 stream's output waiting for the client, as `pendingOutput`. What
 * moves it is the session's: node:http2 completes a stream's write only
 * once all of it was sent, so a slow reader of one large body shows nothing
 * on the stream until its end, while its session's socket goes on writing
 * the frames (counted down here, as a queue that shrinks).
 */
function pendingStreamOutput(stream: ServerHttp2Stream, last: Pending | undefined, now: number): Pending | undefined {
  if (stream.closed) return undefined;
  const written = stream.session?.socket?.bytesWritten;
  if (typeof written !== 'number') return undefined;
  return pending(stream.writableLength, -written, last, now);
}

/** `buffered` bytes wait (none: undefined); the output moved if they, or `queued`, shrank since `last`. */
function pending(buffered: number, queued: number, last: Pending | undefined, now: number): Pending | undefined {
  if (buffered === 0) return undefined;
  const moved = last === undefined || queued < last.queued || buffered < last.buffered;
  return { queued, buffered, since: moved ? now : last.since };
}

/**
 * An HTTP/2 stream whose client took none of its response for `timeoutMs`
 * (it gives the stream, or the session, no flow-control window, or reads
 * nothing of the connection): reset with CANCEL, so that its exchange ends
 * aborted and its tasks run, and node:http2 lets go of the output it holds.
 */
function cutStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, timeoutMs: number, logger: Logger): void {
  logger.warn(
    { method: headers[':method'], url: headers[':path'], remoteAddress: stream.session?.socket?.remoteAddress, pendingBytes: stream.writableLength, sendTimeoutMs: timeoutMs },
    `HTTP/2 stream reset: its client took none of the response for ${timeoutMs} ms (serve()'s sendTimeoutMs)`,
  );
  stream.close(constants.NGHTTP2_CANCEL);
}

function close(socket: NodeSocket, timeoutMs: number, logger: Logger): void {
  const response = socket._httpMessage;
  if (response != null) response[kCutOff] = { reason: `its client took none of the response for ${timeoutMs} ms (sendTimeoutMs)` };
  const request = response?.req;
  logger.warn(
    { method: request?.method, url: request?.url, remoteAddress: socket.remoteAddress, pendingBytes: socket.writableLength, sendTimeoutMs: timeoutMs },
    `connection closed: its client took none of the response for ${timeoutMs} ms (serve()'s sendTimeoutMs)`,
  );
  socket.destroy();
}
