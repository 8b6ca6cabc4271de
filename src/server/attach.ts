import { Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { App } from '../app/app.js';
import { checkBoolean, checkKeys, checkMs } from '../util/options.js';
import { kGovern } from '../symbols.js';
import { closeServer, type ShutdownReport } from './close.js';
import { http1Listener, http2Listener, serverUrl, type Listener } from './listener.js';
import { holdPipelined } from './pipelining.js';
import { handleSignals } from './shutdown.js';
import { closeStalledSends } from './stalled-sends.js';

/** How a server Coda did not start is shut down. */
export interface AttachOptions {
  /** SIGTERM and SIGINT close it, with every other Coda server of the process (as `serve()`'s). Default true. */
  handleSignals?: boolean;
  /** The drain deadline for signal-triggered shutdown, for the server's own `close()` and for `close()` without a `timeoutMs`. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
  /**
   * As `serve()`'s: a connection whose client takes none of its response for
   * this long is closed (its exchange ends aborted, its tasks run); 0: no
   * limit. Default 60,000 ms. Connections open before `attach()` are not watched.
   */
  sendTimeoutMs?: number;
}

/**
 * A server `attach()` takes: node:http's or node:https' (Express's and Koa's
 * `app.listen()`, @hono/node-server's `serve()`), or node:http2's, with TLS or
 * without (h2c: Koa's callback or @hono/node-server on `http2.createServer()`).
 */
export type AttachableServer = HttpServer | HttpsServer | Http2Server | Http2SecureServer;

/** A server under Coda's shutdown. */
export interface AttachedServer<S extends AttachableServer = HttpServer> {
  /** The server given `attach()`. */
  readonly server: S;
  /** Graceful shutdown, as `serve()`'s `close()` (its deadline `timeoutMs`, by default `shutdownTimeoutMs`): resolves with the report. */
  close(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
}

/** The settings `serve()` and `attach()` share: what shuts a server down. */
export interface ShutdownSettings {
  handleSignals: boolean;
  shutdownTimeoutMs: number;
}

/**
 * Puts a server (listening, or about to) under `app`'s shutdown: `close()`
 * stops accepting, answers the requests in flight with `Connection: close`,
 * closes idle keep-alive connections, runs the pending tasks (once the app's
 * last such server closes: see close.ts) and reports; the first close wins,
 * later calls get its report. With `handleSignals`, SIGTERM and SIGINT close
 * it too.
 */
export function govern(app: App, listener: Listener, url: () => string, settings: ShutdownSettings): (options?: { timeoutMs?: number }) => Promise<ShutdownReport> {
  let shutdownDone: Promise<ShutdownReport> | undefined;
  let stopHandlingSignals = (): void => {};
  app[kGovern](listener.server);
  const close = (options: { timeoutMs?: number } = {}): Promise<ShutdownReport> => {
    stopHandlingSignals();
    // Its drain deadline unless this call names one: a server set up for 30 s is not closed by hand in 10.
    return (shutdownDone ??= closeServer(app, listener, options.timeoutMs ?? settings.shutdownTimeoutMs));
  };
  if (settings.handleSignals) {
    stopHandlingSignals = handleSignals({ app, get url() { return url(); }, timeoutMs: settings.shutdownTimeoutMs, close });
  }
  return close;
}

/** `http://host:port` of a listening server. */
function attachedUrl(server: AttachableServer): string {
  const address = server.address() as AddressInfo | string | null;
  if (address === null) return 'http://(not listening)';
  if (typeof address === 'string') return address;
  return serverUrl('http', address.address, address.port);
}

/**
 * Puts a server another framework started (`app.listen()` in Express or Koa,
 * `serve()` of @hono/node-server) under `app`'s shutdown; the adapters'
 * `attach()`. The server's own `close()` drains too (see `drainOnServerClose`),
 * and its connections get `serve()`'s limit on pipelined requests (see
 * pipelining.ts) and its send timeout (see stalled-sends.ts). Opens the
 * app's durable task store at once, so that a previous process's tasks are
 * recovered without waiting for a request.
 */
export function attach<S extends AttachableServer>(app: App, server: S, options: AttachOptions = {}): AttachedServer<S> {
  checkKeys('attach()', options, ['handleSignals', 'shutdownTimeoutMs', 'sendTimeoutMs']);
  const handle = checkBoolean('attach(): handleSignals', options.handleSignals ?? true);
  const shutdownTimeoutMs = checkMs('attach(): shutdownTimeoutMs', options.shutdownTimeoutMs ?? 10_000);
  const sendTimeoutMs = checkMs('attach(): sendTimeoutMs', options.sendTimeoutMs ?? 60_000, { zero: true });
  const close = govern(app, attachedListener(server), () => attachedUrl(server), { handleSignals: handle, shutdownTimeoutMs });
  // After govern(): an app attached again after its shutdown opens its store anew.
  app.tasks.runHere();
  drainOnServerClose(server, close, shutdownTimeoutMs);
  // As on serve()'s servers: a connection's pipelined requests start no faster than they are answered.
  (server as HttpServer).prependListener('request', holdPipelined);
  closeStalledSends(server, server instanceof TlsServer, sendTimeoutMs, app.logger);
  return { server, close };
}

/**
 * The listener of a server another framework started: node:http's or
 * node:https', or node:http2's (Koa's callback or @hono/node-server's
 * `createServer` on `http2.createServer()`), whose shutdown handles its
 * sessions (a GOAWAY each) and has no node:http connection list of its own.
 */
function attachedListener(server: AttachableServer): Listener {
  if (server instanceof HttpServer || server instanceof HttpsServer) return http1Listener(server as HttpServer, 'http');
  // An h2c server has what shutdown uses of a secure one's.
  return http2Listener(server as Http2SecureServer, 'http');
}

/**
 * Makes the attached server's own `close(callback)`, what an Express, Koa or
 * @hono/node-server user calls, Coda's drain: the requests in flight answered,
 * the pending tasks run until `timeoutMs`, the report logged; the callback
 * called once all that is done, as Node calls it once the server has closed,
 * with Node's ERR_SERVER_NOT_RUNNING when the server was not listening (closed
 * already, or closing). Set on the server object: the drain calls Node's own,
 * on its prototype.
 */
function drainOnServerClose(server: AttachableServer, close: (options?: { timeoutMs?: number }) => Promise<ShutdownReport>, timeoutMs: number): void {
  Object.defineProperty(server, 'close', {
    configurable: true,
    writable: true,
    value(callback?: (error?: Error) => void): AttachableServer {
      const running = server.listening;
      close({ timeoutMs }).then(() => callback?.(running ? undefined : notRunning()), (error: unknown) => callback?.(error as Error));
      return server;
    },
  });
}

/** Node's error for closing a server that is not listening (its own is not exported). */
function notRunning(): Error {
  return Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
}
