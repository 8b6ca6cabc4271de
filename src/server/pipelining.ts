import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** What node:http keeps on a connection's socket for pipelining: `_paused` stops its reads (and, after the read in hand, its parser) until Node's own output drains. */
interface PipelinedSocket extends Socket {
  _paused: boolean;
  parser?: { pause(): void; resume(): void } | null;
  [kQueued]?: number;
}

/** On a connection's socket: how many of its responses wait behind the one being written. */
const kQueued = Symbol('coda.queued');

/**
 * `handler`, but a connection with a response queued behind another reads no
 * further until the last queued one has its turn. node:http parses pipelined
 * requests as fast as they come and runs each at once; it stops reading only
 * when the answers' bytes pile up (`_paused`), so views that take their time
 * (they write nothing yet) let one connection start any number of them. Here
 * the requests parsed ahead of the one being answered are at most those of the
 * read in hand (64 KiB), whatever the client sends. HTTP/2 streams, and
 * requests not queued (the common case), pass straight through.
 */
export function limitPipelining<Req, Res>(handler: (request: Req, response: Res) => void): (request: Req, response: Res) => void {
  return (request, response) => {
    holdPipelined(request, response);
    handler(request, response);
  };
}

/**
 * The limit as a `'request'` listener of its own, for a server whose requests
 * another framework answers (`attach()`): put first, it pauses the connection
 * before that framework's listener starts the request.
 */
export function holdPipelined(request: unknown, response: unknown): void {
  if ((response as { socket?: unknown }).socket === null && response instanceof ServerResponse) queue((request as IncomingMessage).socket as PipelinedSocket, response);
}

function queue(socket: PipelinedSocket, response: ServerResponse): void {
  const queued = socket[kQueued];
  // Node pauses the parser too once the read in hand is parsed, as when it pauses for its output.
  pause(socket);
  if (queued === undefined) socket.on('resume', keepPaused);
  socket[kQueued] = (queued ?? 0) + 1;
  response.once('socket', () => {
    if (--socket[kQueued]! === 0) resume(socket);
  });
}

function pause(socket: PipelinedSocket): void {
  socket._paused = true;
  socket.pause();
}

/** Node resumes the socket whenever its output drains (a queued answer written, or flushed): paused again while answers are still queued. */
function keepPaused(this: PipelinedSocket): void {
  if (this[kQueued]! > 0 && !this._paused) {
    pause(this);
    this.parser?.pause();
  }
}

/** As node:http resumes a connection it paused. */
function resume(socket: PipelinedSocket): void {
  if (!socket._paused || socket.destroyed) return;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}
