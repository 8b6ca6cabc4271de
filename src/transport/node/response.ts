import type { OutgoingHttpHeaders } from 'node:http';
import { constants } from 'node:http2';
import type { Outcome } from '../../http/outcome.js';
import { kAnswered, kCutOff } from '../../symbols.js';

/** Why a request was cut off, with the 408 answered, when its head or body took longer than the server allows. */
export const TIMED_OUT = 'the request did not arrive in time';

/** The server ended a response in the app's stead: why (the outcome's `cutOff`), and the status it answered, if it answered. */
export interface CutOff {
  readonly reason: string;
  readonly status?: number;
}

/**
 * What Coda uses of Node's response, on either protocol: node:http's
 * `ServerResponse` and node:http2's compatibility `Http2ServerResponse` both
 * are one (their overloads make a plain union of the two uncallable).
 */
export interface NodeResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  /**
   * @internal Set by the server when it ended the response itself, and why: it
   * closed the connection on a client that stopped reading (see
   * server/stalled-sends.ts), or answered a request too slow to arrive or
   * malformed (server/request-timeout.ts, server/client-error.ts): then with
   * the status it answered in the app's stead.
   */
  [kCutOff]?: CutOff;
  /** @internal HTTP/2: set by the server, called once the app has answered the request, sent or not (see server/session-views.ts). */
  [kAnswered]?: () => void;
  /** node:http only: the connection has closed. */
  readonly closed?: boolean;
  /** node:http2 only: the response's stream. */
  readonly stream?: {
    readonly closed: boolean;
    readonly destroyed: boolean;
    readonly errored: Error | null;
    readonly rstCode?: number;
    readonly state: { remoteClose?: number };
    close(code: number): void;
    resume(): unknown;
    once(event: 'finish', listener: () => void): unknown;
  };
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  write(chunk: Uint8Array): boolean;
  end(body?: string | Uint8Array | null): unknown;
  destroy(): unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Whether the response is over: its connection (HTTP/1) or its stream
 * (HTTP/2) has closed, so its `'close'` has been emitted or is on its way
 * and will not come again; or, over HTTP/2, the server answered the request
 * itself and nothing of the app's may be written.
 */
export function isClosed(res: NodeResponse, http2: boolean): boolean {
  return http2 ? res.stream!.destroyed || res[kCutOff] !== undefined : res.closed!;
}

/**
 * Whether the whole response was handed to the OS. Over HTTP/2, a stream
 * the client reset (RST_STREAM) before the end has its writable side ended
 * by Node too, so `writableFinished` alone would call it complete: the
 * stream must also have closed without an error code. A response whose
 * connection the server cut for a stalled send, or one the server answered
 * itself, is not complete either.
 */
export function isComplete(res: NodeResponse, http2: boolean): boolean {
  // Over HTTP/1 a response handed over whole has let go of its socket (Node's resOnFinish) before its 'close'; one still
  // holding a destroyed socket closed with it, what the socket held lost: Node 22 calls that writableFinished all the same.
  return res.writableFinished && res[kCutOff] === undefined && (http2 ? res.stream!.rstCode === constants.NGHTTP2_NO_ERROR : (res as { socket?: { destroyed: boolean } | null }).socket?.destroyed !== true);
}

/** `outcome`, as the server ended it if it cut the response off (see `kCutOff`): why, and the status it answered in the app's stead (then sent). */
export function withCutOff(outcome: Outcome, res: NodeResponse): Outcome {
  const cut = res[kCutOff];
  if (cut === undefined) return outcome;
  outcome.cutOff = cut.reason;
  if (cut.status !== undefined) {
    outcome.status = cut.status;
    outcome.headersSent = true;
  }
  return outcome;
}
