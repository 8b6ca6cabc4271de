import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { App } from '../app/app.js';
import type { ServeSettings } from './options.js';

/** The Node server `serve()` starts: node:http, node:https, or node:http2 with HTTP/1.1 fallback. */
export type NodeServer = HttpServer | HttpsServer | Http2SecureServer;

/** A Node server as shutdown handles it, whatever its protocol. */
export interface Listener {
  readonly server: NodeServer;
  readonly scheme: 'http' | 'https';
  /** Closes the HTTP/1.1 connections with no request in progress (HTTP/2 sessions close themselves once idle after their GOAWAY). */
  closeIdleConnections(): void;
  /** Destroys every connection left, HTTP/2 sessions included. */
  closeAllConnections(): void;
}

/**
 * The server for `settings`: HTTPS when `tls` is given, HTTP/2 (HTTP/1.1 for
 * clients that do not offer h2) with `http2`. Node's timeouts are set on it;
 * TLS options Node refuses (a key that is not one, a certificate that does
 * not match it) are a TypeError that says so.
 */
export function createListener(app: App, settings: ServeSettings, checkingInterval: number): Listener {
  const { tls } = settings;
  let server: NodeServer;
  try {
    if (tls === undefined) server = createHttpServer({ connectionsCheckingInterval: checkingInterval }, app.handler);
    else if (settings.http2) server = createSecureServer({ ...tls, allowHTTP1: true }, app.handler);
    else server = createHttpsServer({ ...tls, connectionsCheckingInterval: checkingInterval }, app.handler);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TypeError(`serve(): the tls options were refused: ${message}`, { cause: error });
  }
  // On an HTTP/2 server these apply to its HTTP/1.1 connections.
  const http1 = server as HttpServer;
  http1.headersTimeout = settings.headersTimeoutMs;
  http1.requestTimeout = settings.requestTimeoutMs;
  http1.keepAliveTimeout = settings.keepAliveTimeoutMs;
  if (!settings.http2) {
    return { server, scheme: tls === undefined ? 'http' : 'https', closeIdleConnections: () => http1.closeIdleConnections(), closeAllConnections: () => http1.closeAllConnections() };
  }
  (http1 as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = checkingInterval;
  const sessions = trackSessions(server as Http2SecureServer, settings.keepAliveTimeoutMs);
  return {
    server,
    scheme: 'https',
    closeIdleConnections: () => http1.closeIdleConnections(),
    closeAllConnections: () => {
      HttpServer.prototype.closeAllConnections.call(http1);
      for (const session of sessions) session.destroy();
    },
  };
}

/**
 * The server's open HTTP/2 sessions. A session with no open stream for
 * `idleMs` is closed (GOAWAY, then the connection), as node:http closes an
 * idle keep-alive connection; Node itself would keep it forever.
 */
function trackSessions(server: Http2SecureServer, idleMs: number): Set<ServerHttp2Session> {
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (idleMs === 0) return;
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      stream.once('close', () => open--);
    });
    // The timer restarts with every frame; it fires after idleMs of silence.
    session.setTimeout(idleMs, () => {
      if (open === 0) session.close();
    });
  });
  return sessions;
}
