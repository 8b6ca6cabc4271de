import { createServer as createHttpServer, Server as HttpServer, ServerResponse, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, Http2ServerResponse, type Http2SecureServer, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import type { App } from '../app/app.js';
import { acceptedConnections } from './accepted.js';
import { Http2Sessions } from './http2-sessions.js';
import { answerAndClose, answerClientError } from './client-error.js';
import { continueWhenRead } from './continue.js';
import { refuseExpectation } from './expectation.js';
import { refuseHttp09 } from './http09.js';
import { HEADER_LIST_SETTINGS, HEADERS_KEPT, limitHeaderList, refuseTooManyFields, tooManyFields } from './header-list.js';
import { limitPipelining, serveInTurn } from './pipelining.js';
import { limitRequestTime } from './request-timeout.js';
import { limitSessionViews, MAX_CONCURRENT_STREAMS } from './session-views.js';
import { closeIdleTricklers } from './idle-bytes.js';
import { KeepAliveResponse } from './keep-alive-header.js';
import { closeStalledSends } from './stalled-sends.js';
import { refuseTransferCoding, serveUnlessParserRefuses } from './transfer-coding.js';
import { closeUnlessReceived } from './unread-body.js';
import { closeAfterUnusedUpgrade } from './unused-upgrade.js';
import { kRefused, kServe, kServeHttp1 } from '../symbols.js';
import { refusalOf, type Refusal } from '../observe/refusal.js';
import type { ServeSettings } from './options.js';
import { errorMessage } from '../util/describe.js';

/** The Node server `serve()` starts: node:http, node:https, or node:http2 with HTTP/1.1 fallback. */
export type NodeServer = HttpServer | HttpsServer | Http2SecureServer;

/** `scheme://host:port`, an IPv6 host in brackets. */
export function serverUrl(scheme: 'http' | 'https', host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A Node server as shutdown handles it, whatever its protocol. */
export interface Listener {
  readonly server: NodeServer;
  readonly scheme: 'http' | 'https';
  /**
   * HTTP/2: sends every session a GOAWAY (the streams it names are still
   * answered; the session closes once they are, at once when idle), and any
   * session that opens from now on too. Node 24 does it in `server.close()`,
   * Node 22 does not.
   */
  closeSessions(): void;
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
  const tls = settings.tls === undefined ? undefined : { ...handshakeLimit(settings.headersTimeoutMs), ...settings.tls };
  // HTTP/2's listener hears HTTP/1.1 requests too (allowHTTP1); HTTP/1.x servers get one made for them.
  // node:http's requestTimeout holds its HTTP/1.1 requests; HTTP/2 streams get their own.
  const refused = (refusal: Refusal): void => app[kRefused](refusal);
  const handler = limitRequestTime(limitHeaderList(limitSessionViews(limitPipelining(app[kServe]), app.logger, refused), refused), settings.requestTimeoutMs);
  let server: NodeServer;
  // Only a sub-second timeout needs it (Node advertises a longer one truly): every other server keeps Node's own response, no accessor a request.
  const responses = settings.keepAliveTimeoutMs > 0 && settings.keepAliveTimeoutMs < 1_000 ? KeepAliveResponse : ServerResponse;
  try {
    if (tls === undefined) server = createHttpServer({ connectionsCheckingInterval: checkingInterval, ServerResponse: responses }, http1Handler(app[kServeHttp1], refused));
    else if (settings.http2) server = createSecureServer({ ...tls, allowHTTP1: true, Http1ServerResponse: responses, settings: { ...HEADER_LIST_SETTINGS, maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, handler);
    else server = createHttpsServer({ ...tls, connectionsCheckingInterval: checkingInterval, ServerResponse: responses }, http1Handler(app[kServeHttp1], refused));
  } catch (error) {
    throw new TypeError(`serve(): the tls options were refused: ${errorMessage(error)}`, { cause: error });
  }
  // On an HTTP/2 server these apply to its HTTP/1.1 connections.
  const http1 = server as HttpServer;
  http1.on('connect', (request: IncomingMessage | Http2ServerRequest, socket: Duplex | Http2ServerResponse) => {
    // node:http2 emits its CONNECT streams here too, with their response: requests like any other.
    if (socket instanceof Http2ServerResponse) handler(request, socket);
    else refuseConnect(request as IncomingMessage, socket, refused);
  });
  http1.on('clientError', (error: Error, socket: Duplex) => answerClientError(error, socket, refused));
  http1.on('checkExpectation', (request: IncomingMessage | Http2ServerRequest, response: ServerResponse | Http2ServerResponse) => refuseExpectation(request, response, refused));
  // The app refuses a request without Host itself, saying so (Node's 400 has no body).
  (http1 as { requireHostHeader?: boolean }).requireHostHeader = false;
  http1.headersTimeout = settings.headersTimeoutMs;
  http1.requestTimeout = settings.requestTimeoutMs;
  http1.keepAliveTimeout = settings.keepAliveTimeoutMs;
  http1.maxHeadersCount = HEADERS_KEPT;
  closeStalledSends(server, tls !== undefined, settings.sendTimeoutMs, app.logger);
  // Past Node's own close of an idle connection (a second after the advertised timeout) and a head's time.
  if (settings.keepAliveTimeoutMs > 0) closeIdleTricklers(server, tls !== undefined, settings.keepAliveTimeoutMs + 1_000 + settings.headersTimeoutMs, app.logger);
  if (!settings.http2) {
    // A request with Expect: 100-continue comes here instead of to the request listener: the same checks first.
    http1.on('checkContinue', http1Handler(continueWhenRead(app[kServeHttp1]), refused));
    return http1Listener(http1, tls === undefined ? 'http' : 'https');
  }
  (http1 as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = checkingInterval;
  const idleMs = settings.keepAliveTimeoutMs;
  return http2Listener(server as Http2SecureServer, 'https', idleMs > 0 ? (session) => closeWhenIdle(session, idleMs) : undefined);
}

/**
 * A node:http2 server (TLS or not) as shutdown handles it: its sessions, and
 * the HTTP/1.1 connections of its fallback (`allowHTTP1`), which node:http's
 * methods handle (an HTTP/2 server has no `closeAllConnections()`, and one
 * without TLS no `closeIdleConnections()` either). Sessions opened before this
 * call are not known to it. `opened` gets each new session until the close.
 */
export function http2Listener(server: Http2SecureServer, scheme: 'http' | 'https', opened?: (session: ServerHttp2Session) => void): Listener {
  const sessions = new Http2Sessions();
  sessions.watch(server, opened);
  const destroyAccepted = acceptedConnections(server);
  return {
    server,
    scheme,
    closeSessions: () => sessions.close(),
    closeIdleConnections: () => HttpServer.prototype.closeIdleConnections.call(server),
    closeAllConnections: () => {
      HttpServer.prototype.closeAllConnections.call(server);
      sessions.destroy();
      destroyAccepted();
    },
  };
}

/**
 * Node waits 120 s (`handshakeTimeout`) for a TLS handshake, and the header
 * timeout starts only after it: a client that connects and sends nothing
 * held its connection twelve times the 10 s the docs promise. The handshake
 * gets `headersTimeoutMs` too, as Go's server bounds it by its header
 * timeout; a `handshakeTimeout` in the tls options wins.
 */
function handshakeLimit(headersTimeoutMs: number): { handshakeTimeout?: number } {
  return headersTimeoutMs === 0 ? {} : { handshakeTimeout: headersTimeoutMs };
}

/**
 * The request listener of a server whose requests are all HTTP/1.x: the
 * header-field limit, the transfer-coding check, the unread-body close, and
 * `serve` once the request's turn on its connection comes, in one call a request (the wrappers HTTP/2's
 * server has are a call each, and ask of each request whether it is HTTP/2's).
 */
function http1Handler(serve: (request: IncomingMessage, response: ServerResponse) => void, refused: (refusal: Refusal) => void): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (tooManyFields(request)) {
      refuseTooManyFields(request, response, refused);
      return;
    }
    if (refuseHttp09(request, response, refused) || refuseTransferCoding(request, response, refused)) return;
    serveUnlessParserRefuses(request, () => {
      closeUnlessReceived(request, response);
      closeAfterUnusedUpgrade(request, response);
      serveInTurn(request, response, serve);
    });
  };
}

/**
 * An HTTP/1.1 CONNECT asks for a tunnel, which only a proxy gives; Node hands
 * it to 'connect' listeners, never to the app, and without one closes the
 * connection unanswered. Coda answers 501, naming the request, and closes it;
 * the log line does not name it (the target is the client's bytes).
 */
function refuseConnect(request: IncomingMessage, socket: Duplex, refused: (refusal: Refusal) => void): void {
  answerAndClose(socket, 501, `CONNECT ${request.url ?? ''} is not supported: this server is not a proxy`);
  refused(refusalOf(501, 'CONNECT is not supported: this server is not a proxy', request.socket));
}

/** An HTTP/1.1 server (node:http's or node:https') as shutdown handles it: it has no sessions. */
export function http1Listener(server: HttpServer | HttpsServer, scheme: 'http' | 'https'): Listener {
  // node:http knows a plain connection from its accept; a TLS one only once its handshake is done.
  const destroyAccepted = server instanceof TlsServer ? acceptedConnections(server) : undefined;
  return {
    server,
    scheme,
    closeSessions: () => {},
    closeIdleConnections: () => server.closeIdleConnections(),
    closeAllConnections: () => {
      server.closeAllConnections();
      destroyAccepted?.();
    },
  };
}

/**
 * A session with no open stream for `idleMs` is closed (GOAWAY, then the
 * connection), as node:http closes an idle keep-alive connection; Node itself
 * would keep it forever. A header block that never ends (HEADERS without
 * END_HEADERS, its CONTINUATION never sent) is no stream the app sees, yet the
 * graceful close waits for it for good: a slowloris over HTTP/2 held each such
 * connection for ever. The connection of a session still open `idleMs` after
 * its GOAWAY, with no stream open, is cut.
 */
function closeWhenIdle(session: ServerHttp2Session, idleMs: number): void {
  let open = 0;
  session.on('stream', (stream) => {
    open++;
    stream.once('close', () => open--);
  });
  // Node restarts the timer on stream activity only (headers, DATA read or written): PING, SETTINGS, WINDOW_UPDATE
  // and PRIORITY frames reach no listener here, so a client sending only those is idle (test: "… only sends PINGs …").
  session.setTimeout(idleMs, () => {
    if (open > 0) return;
    session.close();
    // A stream that began since (its header block ended after all) is let finish: the graceful close then ends the session.
    setTimeout(() => {
      if (open === 0) session.destroy();
    }, idleMs).unref();
  });
}
