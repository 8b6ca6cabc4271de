import type { Server as HttpServer } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { App } from '../app/app.js';
import { checkApp } from '../app/check-app.js';
import type { ShutdownReport } from './close.js';
import { createListener, serverUrl, type NodeServer } from './listener.js';
import { serveSettings, type ServeOptions } from './options.js';
import { govern } from './attach.js';

export type { ServeOptions } from './options.js';
export type { ShutdownReport } from './close.js';
export type { NodeServer } from './listener.js';

/** A running server; `S` is its Node server: node:http's (node:https' with `tls`), or node:http2's with `http2`. */
export interface Server<S extends NodeServer = HttpServer> {
  readonly url: string;
  readonly port: number;
  /** The underlying Node server. */
  readonly server: S;
  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish (their
   * responses carry `Connection: close`; a request already sent on an idle
   * keep-alive connection is answered too), close idle keep-alive sockets,
   * run the pending after-response tasks, and at the deadline abort the rest.
   * The tasks are the app's: while another server of the app is open, they
   * run on, and this close ends with its own requests. The deadline is
   * `timeoutMs`, by default `serve()`'s `shutdownTimeoutMs` (10 s unless set).
   */
  close(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
}

/**
 * Starts an HTTP server for `app`: HTTPS with `tls`, HTTP/2 (and HTTP/1.1
 * for clients without it) with `http2`. Unless `handleSignals: false`,
 * SIGTERM and SIGINT close it, with every other such server of the process,
 * then run the `onShutdown` hooks and exit (see docs/after-response.md,
 * Shutdown).
 *
 * @example
 * ```ts
 * const server = await serve(app, { port: 0 });
 * console.log(`listening on ${server.url}`);
 * const report = await server.close({ timeoutMs: 10_000 });
 *
 * const secure = await serve(app, { port: 8443, tls: { key: readFileSync('key.pem'), cert: readFileSync('cert.pem') }, http2: true });
 * ```
 */
export function serve(app: App, options: ServeOptions & { http2: true }): Promise<Server<Http2SecureServer>>;
export function serve(app: App, options?: ServeOptions): Promise<Server>;
export async function serve(app: App, options: ServeOptions = {}): Promise<Server<NodeServer>> {
  checkApp('serve()', app);
  const settings = serveSettings(options);
  const listener = createListener(app, settings, checkingInterval(settings.headersTimeoutMs, settings.requestTimeoutMs));
  const { server } = listener;
  // Durable tasks first: the store opens (a previous process's tasks are recovered) before any request can register one.
  if (app.tasks.defined) await app.tasks.open();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = serverUrl(listener.scheme, settings.host, port);

  let close: Server['close'];
  try {
    close = govern(app, listener, () => url, settings);
  } catch (error) {
    // Refused (the app's shutdown runs): the server is not left listening.
    server.close();
    throw error;
  }
  return { url, port, server, close };
}

/**
 * How often Node looks for connections past headersTimeout or requestTimeout.
 * Node's default is every 30 s, so a 10 s headersTimeout really allowed up to
 * 40 s: check every tenth of the shorter timeout instead (25 ms to 1 s).
 */
function checkingInterval(headersTimeout: number, requestTimeout: number): number {
  const shortest = Math.min(...[headersTimeout, requestTimeout].filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.min(1_000, Math.max(25, Math.floor(shortest / 10))) : 30_000;
}
