import type { Socket } from 'node:net';

/**
 * Servers whose shutdown has begun: the responses on their connections ask
 * for the connection's close. One app may answer on several servers (an API
 * port and a metrics port, `serve()` and `attach()`): closing one leaves the
 * others' connections alone.
 */
const closing = new WeakSet<object>();

/** `server`'s shutdown has begun (its `close()`, SIGTERM, `fastify.close()`). */
export function closingServer(server: object): void {
  closing.add(server);
}

/** Whether `server`'s shutdown has begun. */
export function isClosing(server: object): boolean {
  return closing.has(server);
}

/** The server that accepted `connection` (Node sets it on every socket a server accepts, TLS and HTTP/2 sessions' too). */
export function serverOf(connection: Socket | null | undefined): object | undefined {
  return (connection as { server?: object } | null | undefined)?.server;
}

/** Whether `connection` (a request's socket) belongs to a server whose shutdown has begun. */
export function onClosingServer(connection: Socket | null | undefined): boolean {
  const server = serverOf(connection);
  return server !== undefined && closing.has(server);
}
