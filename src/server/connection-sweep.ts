import type { Server as NetServer, Socket } from 'node:net';

/**
 * The server's HTTP/1.x connections, each with what a sweep last noted of it
 * (undefined at first): added as each opens (over TLS once its handshake is
 * done: the socket HTTP writes to), gone when it closes. An HTTP/2
 * session's socket carries streams, watched apart, and is left out.
 */
export function http1Connections<S, T extends Socket = Socket>(server: NetServer, encrypted: boolean): Map<T, S | undefined> {
  const connections = new Map<T, S | undefined>();
  server.on(encrypted ? 'secureConnection' : 'connection', (socket: T) => {
    if ((socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2') return;
    connections.set(socket, undefined);
    socket.once('close', () => connections.delete(socket));
  });
  return connections;
}

/**
 * Calls `sweep` every quarter of `limitMs` (at most each second, at least
 * 25 ms apart) until the server closes, on a timer that keeps no process
 * alive: a limit is judged within a quarter of itself, or a second.
 */
export function sweepEvery(server: NetServer, limitMs: number, sweep: (everyMs: number) => void): void {
  const everyMs = Math.min(1_000, Math.max(25, Math.floor(limitMs / 4)));
  const timer = setInterval(sweep, everyMs, everyMs);
  timer.unref();
  server.once('close', () => clearInterval(timer));
}
