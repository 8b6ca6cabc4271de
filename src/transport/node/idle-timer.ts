import { AsyncLocalStorage } from 'node:async_hooks';
import type { Socket } from 'node:net';

/** The async context outside every request, taken as the module loads. */
const outside = AsyncLocalStorage.snapshot();

/**
 * node:http arms a kept-alive connection's idle timer as its response
 * finishes, inside that request's async context: the timer kept the context,
 * and through it the request's exchange with its body read into memory (up to
 * `bodyLimit`), for as long as the connection stayed idle (64 idle
 * connections after 1 MB uploads held 64 MB). Re-armed from outside every
 * request with the same length, the timer holds nothing of the request;
 * called for requests that read their body (the others hold little).
 */
export function disownIdleTimer(socket: Socket): void {
  if (!socket.destroyed && socket.timeout !== undefined && socket.timeout > 0) outside(rearm, socket);
}

function rearm(socket: Socket): void {
  socket.setTimeout(socket.timeout!);
}
