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
 * `handler`, but a request whose response is queued behind another on its
 * connection starts only once that response has its turn (`serveInTurn`).
 * HTTP/2 streams, and requests not queued (the common case), pass straight
 * through: one property test.
 */
export function limitPipelining<Req, Res>(handler: (request: Req, response: Res) => void): (request: Req, response: Res) => void {
  return (request, response) => {
    if ((response as { socket?: unknown }).socket === null && response instanceof ServerResponse) serveInTurn(request as IncomingMessage, response, handler as unknown as Serve);
    else handler(request, response);
  };
}

type Serve = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Calls `serve` for an HTTP/1.1 request when its response is next on the
 * connection: at once when it is (every request not pipelined), else once the
 * response ahead of it has gone out, and never if the connection closes first.
 * node:http parses pipelined requests as fast as they come and runs each at
 * once: behind a response with `Connection: close` (the view's, or Coda's for
 * an unread body) Node then drops their answers, though their views ran (a
 * POST processed, unanswered, that the client may send again). RFC 9112 9.6:
 * a server that sends "close" must not process further requests; Go's server
 * runs pipelined requests one at a time for this reason. Meanwhile the
 * connection reads no further than the read in hand (64 KiB), so a flood
 * parses at most that much ahead, whatever the client sends.
 */
export function serveInTurn(request: IncomingMessage, response: ServerResponse, serve: Serve): void {
  if (response.socket !== null) {
    serve(request, response);
    return;
  }
  queue(request.socket as PipelinedSocket, response, () => setImmediate(afterRead, request, response, serve));
}

/**
 * A queued request's turn: node:http gives its response the socket from inside
 * the finish handling of the one ahead (resOnFinish), and the connection,
 * paused until then, reads again. A client that left meanwhile (its FIN
 * waiting, unread) must be seen before the request starts, and only the event
 * loop's poll phase reads it: a microtask, or this turn's check phase, comes
 * before, and the request ran (test/adapters/guarantees.ts "pipelined
 * requests whose client leaves …", on coda). Two turns: a poll phase between.
 */
function afterRead(request: IncomingMessage, response: ServerResponse, serve: Serve): void {
  setImmediate(startIfOpen, request, response, serve);
}

/** Node destroys the requests still to be answered when their client leaves (socket 'end' or 'close'), the socket a tick before. */
function startIfOpen(request: IncomingMessage, response: ServerResponse, serve: Serve): void {
  if (!request.destroyed && !request.socket.destroyed) serve(request, response);
}

/**
 * The read limit alone, as a `'request'` listener of its own, for a server
 * whose requests another framework answers (`attach()`): put first, it pauses
 * the connection before that framework's listener starts the request (at
 * once: that listener is the framework's).
 */
export function holdPipelined(request: unknown, response: unknown): void {
  if ((response as { socket?: unknown }).socket === null && response instanceof ServerResponse) queue((request as IncomingMessage).socket as PipelinedSocket, response);
}

/** Stops reading `socket` until `response`, queued on it, has its turn; then `turn` is called. */
function queue(socket: PipelinedSocket, response: ServerResponse, turn?: () => void): void {
  const queued = socket[kQueued];
  // Node pauses the parser too once the read in hand is parsed, as when it pauses for its output.
  pause(socket);
  if (queued === undefined) socket.on('resume', keepPaused);
  socket[kQueued] = (queued ?? 0) + 1;
  response.once('socket', () => {
    if (--socket[kQueued]! === 0) resume(socket);
    turn?.();
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
