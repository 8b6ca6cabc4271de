import type { Server, Socket } from 'node:net';

/**
 * Tracks a TLS server's connections from their accept: node:http and
 * node:http2 know one only once its handshake is done, so their
 * `closeAllConnections()` left a connection whose handshake had not begun
 * (or stalled), and `server.close()` waited for it until its handshake timed
 * out. Returns what destroys those still open.
 */
export function acceptedConnections(server: Server): () => void {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return () => {
    for (const socket of open) socket.destroy();
  };
}
