import { constants } from 'node:http2';
import type { Socket } from 'node:net';
import type { Exchange } from '../../after/exchange.js';
import { outcomeOf } from '../outcome.js';
import { disownIdleTimer } from './idle-timer.js';
import { kAnswered, kBodyRead } from '../../symbols.js';
import { isClosed, isComplete, withCutOff, type NodeResponse } from './response.js';
import type { Outcome } from '../../http/outcome.js';

/**
 * Watches a Node response for its `'close'`, which comes after `'finish'`
 * when the response completed, or alone when the connection went first; then
 * the exchange is finished with its outcome. One shared listener; the exchange
 * rides on the response. Over HTTP/2 the response is a stream's: its
 * `'close'` comes once the stream has ended both ways (the last DATA frame,
 * END_STREAM, sent), or once the client reset it (RST_STREAM) or the
 * session died; `isComplete` tells them apart.
 */
export function watch(res: NodeResponse, exchange: Exchange, http2: boolean): void {
  // The stream's request no longer holds a place among its session's (see server/session-views.ts) once its stream closes too.
  if (http2) res[kAnswered]?.();
  // The client may have gone while the view was still working: 'close' has fired already.
  if (isClosed(res, http2)) {
    closed(res, exchange, http2);
  } else if (http2) {
    res.on('close', () => closed(res, exchange, true));
    // The stream's own 'finish' (node:http2's compatibility response emits its 'finish' only when the stream closes);
    // a turn later, as Node closes a stream whose request was never read, so its END_STREAM goes first.
    res.stream!.once('finish', onStreamFinish);
  } else {
    const socket = exchange.connection;
    res.on('close', () => {
      closed(res, exchange, false);
      // Only a request that read its body holds much for the timer to keep: the others' re-arming would cost a timer a request.
      if (socket != null && exchange.request[kBodyRead]) disownIdleTimer(socket);
    });
    // A pipelined response still queued behind another has no socket yet, and Node 22 never emits its 'close'
    // when the connection dies first: the connection's own 'close' finishes it (finishing twice does nothing).
    if (socket != null) closeWithConnection(res, socket, closedHttp1, exchange);
  }
}

/** Per connection, its responses queued behind another, each with what to call if the connection goes first: one 'close' listener a connection, however many are queued. */
const queuedOn = new WeakMap<Socket, Map<NodeResponse, () => void>>();

/**
 * An HTTP/1 response still queued behind another on its connection (a
 * pipelined request's: it has no socket yet) gets no 'close' on Node 22
 * when the connection dies first: `onClose(res, arg)` is called when the
 * connection closes, unless the response closed by then. Nothing for a
 * response that has its socket (nothing is allocated for it either: this is
 * on every response's path).
 */
export function closeWithConnection<A, R extends NodeResponse>(res: R, socket: Socket, onClose: (res: R, arg: A) => void, arg: A): void {
  if ((res as { socket?: unknown }).socket != null) return;
  let queued = queuedOn.get(socket);
  if (queued === undefined) {
    queuedOn.set(socket, (queued = new Map()));
    socket.once('close', () => {
      for (const each of queued!.values()) each();
      queuedOn.delete(socket);
    });
  }
  queued.set(res, () => onClose(res, arg));
  // Answered in time: let go of it, so that a long keep-alive connection keeps none.
  res.once('close', () => queued!.delete(res));
}

/**
 * The response is whole, but the client may still be sending its request
 * (an upload answered early: a 413, a 401): Node would keep the stream open
 * until the client ends it, and the tasks would wait as long. RFC 9113 8.1
 * lets the server stop it after a complete response with RST_STREAM
 * NO_ERROR, which clients must not take as a failure of the response.
 */
function onStreamFinish(this: NonNullable<NodeResponse['stream']>): void {
  setImmediate(onHttp2Finish, this);
}

function onHttp2Finish(stream: NonNullable<NodeResponse['stream']>): void {
  if (stream.closed || stream.state.remoteClose === 1) return;
  stream.close(constants.NGHTTP2_NO_ERROR);
  // What the view left unread of the request would hold the closed stream (and its session) open: discarded, as node:http dumps it.
  stream.resume();
}

function closedHttp1(res: NodeResponse, exchange: Exchange): void {
  closed(res, exchange, false);
}

function closed(res: NodeResponse, exchange: Exchange, http2: boolean): void {
  exchange.finish(isComplete(res, http2) ? outcomeOf(exchange, true) : unfinished(res, exchange));
}

/** The outcome of a response not sent whole: the client went (before its head, or after), or the server answered in the app's stead (see `kCutOff`). */
function unfinished(res: NodeResponse, exchange: Exchange): Outcome {
  return withCutOff(outcomeOf(exchange, false, undefined, res.headersSent), res);
}
