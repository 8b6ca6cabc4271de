import type { App } from '../app/app.js';
import { kRequestsDone, kRequestsOn } from '../symbols.js';
import { untilDeadline } from '../util/deadline.js';
import type { Listener, NodeServer } from './listener.js';

/**
 * How long a closing server waits for a moment with no new request before it
 * closes the idle keep-alive connections. A busy client may reuse a
 * connection after the server has closed it, before it has read the FIN: its
 * request meets a closed socket and is reset. While the server is closing,
 * every answer carries `Connection: close`, so clients in the middle of a run
 * of requests send one more each, are answered, and leave; the quiet moment
 * comes once they have, and the connections left idle then are not in use.
 */
const QUIET_MS = 250;

const noop = (): void => {};

/** The description of the symbol under which node:http keeps its timeout-checking interval (Node 18 and later). */
const CHECKING_TIMER = 'http.server.connectionsCheckingInterval';

/**
 * Stops accepting connections; resolves once the last one has closed. Node's
 * `close()` would also destroy at once every connection that looks idle,
 * including one whose next request is in its receive buffer, not read yet, or
 * about to be sent: that client gets a reset instead of an answer. So its idle
 * sweep is left out here and done by `closeIdleConnections` below. It would
 * also stop the timer that enforces `headersTimeout` and `requestTimeout`: a
 * client trickling its request body would then hold the drain, unanswered,
 * until the deadline. That timer is kept running until the last connection
 * has closed, so such a client still gets its 408 on time.
 * HTTP/2 sessions are closed apart (see `Listener.closeSessions`).
 */
export function stopAccepting(server: NodeServer): Promise<void> {
  const sweeping = server as { closeIdleConnections(): void };
  sweeping.closeIdleConnections = noop;
  const timers = server as unknown as Record<symbol, NodeJS.Timeout | undefined>;
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === CHECKING_TIMER);
  const timer = key === undefined ? undefined : timers[key];
  if (key !== undefined) timers[key] = undefined;
  try {
    // Node's own close, past any set on the object itself (attach() makes that one the drain, which calls this).
    const nodeClose = (Object.getPrototypeOf(server) as { close(this: NodeServer, callback: () => void): unknown }).close;
    return new Promise<void>((resolve) => nodeClose.call(server, () => {
      clearInterval(timer);
      resolve();
    }));
  } finally {
    Reflect.deleteProperty(sweeping, 'closeIdleConnections');
    if (key !== undefined) timers[key] = timer;
  }
}

/**
 * Closes the idle keep-alive connections of a closing server, once no request
 * has come for `QUIET_MS` and the event loop has read what already reached
 * them (a request found there is answered, with `Connection: close`); again
 * each time the server's requests in flight are done, since a response begun
 * before `close()` leaves its connection open and idle. Returns when a sweep
 * leaves none of its requests in flight, when no connection is left, or at
 * `deadline`. The app's requests on its other servers are theirs.
 */
export async function closeIdleConnections(app: App, listener: Listener, closed: Promise<void>, deadline: number): Promise<void> {
  for (;;) {
    await quiet(listener.server, closed, deadline);
    await ioPolled();
    listener.closeIdleConnections();
    if (app[kRequestsOn](listener.server) === 0 || performance.now() >= deadline) return;
    await untilDeadline(app[kRequestsDone](listener.server), deadline);
  }
}

/** Resolves once `server` has had no new request for `QUIET_MS`, or has no connection left, or at `deadline`. */
function quiet(server: NodeServer, closed: Promise<void>, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(end, Math.max(0, Math.min(QUIET_MS, deadline - performance.now())));
    };
    const end = (): void => {
      clearTimeout(timer);
      server.off('request', arm);
      resolve();
    };
    server.on('request', arm);
    arm();
    void closed.then(end);
  });
}

/** Resolves after the event loop has polled for I/O at least once: an immediate queued from an immediate runs a loop turn later. */
function ioPolled(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
