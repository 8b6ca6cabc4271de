import { createServer, type Server as NodeServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../app/app.js';
import { kAbandon, kClosing, kRequestsDone } from '../symbols.js';
import { untilDeadline } from '../util/deadline.js';

export interface ServeOptions {
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. Use '0.0.0.0' or '::' to listen on every interface. */
  host?: string;
  /** Handle SIGTERM and SIGINT with a graceful `close()`, then exit. Default true. */
  handleSignals?: boolean;
  /** The drain deadline for signal-triggered shutdown. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
  /** Time allowed to receive a request's headers (Node `headersTimeout`). Default 10,000 ms. */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request (Node `requestTimeout`). Default 30,000 ms. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open (Node `keepAliveTimeout`). Default 5,000 ms. */
  keepAliveTimeoutMs?: number;
}

/** What `close()` reports, and logs. */
export interface ShutdownReport {
  /** After-response tasks completed over the server's life, including during the drain. */
  tasksCompleted: number;
  /** Tasks that did not run or were aborted at the deadline. */
  tasksAbandoned: { name: string; requestId: string }[];
  /** Requests being handled when `close()` was called. */
  requestsInFlightAtClose: number;
}

export interface Server {
  readonly url: string;
  readonly port: number;
  /** The underlying `node:http` server. */
  readonly server: NodeServer;
  /**
   * Graceful shutdown: stop accepting, close idle keep-alive sockets, let
   * in-flight requests finish (their responses carry `Connection: close`), run
   * the pending after-response tasks, and at the deadline abort the rest.
   */
  close(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
}

/**
 * Starts an HTTP server for `app`.
 *
 * @example
 * ```ts
 * const server = await serve(app, { port: 0 });
 * console.log(`listening on ${server.url}`);
 * const report = await server.close({ timeoutMs: 10_000 });
 * ```
 */
export async function serve(app: App, options: ServeOptions = {}): Promise<Server> {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const server = createServer({ connectionsCheckingInterval: checkingInterval(headersTimeout, requestTimeout) }, app.handler);
  server.headersTimeout = headersTimeout;
  server.requestTimeout = requestTimeout;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let shutdownDone: Promise<ShutdownReport> | undefined;
  let stopHandlingSignals = (): void => {};
  const close = (closeOptions: { timeoutMs?: number } = {}): Promise<ShutdownReport> => {
    stopHandlingSignals();
    return (shutdownDone ??= shutdown(app, server, closeOptions.timeoutMs ?? 10_000));
  };
  if (options.handleSignals ?? true) stopHandlingSignals = handleSignals(app, close, options.shutdownTimeoutMs ?? 10_000);
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

async function shutdown(app: App, server: NodeServer, timeoutMs: number): Promise<ShutdownReport> {
  const deadline = performance.now() + timeoutMs;
  const requestsInFlightAtClose = app.requestsInFlight;
  app[kClosing] = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await untilDeadline(app[kRequestsDone](), deadline);
  // A request still running at the deadline loses its connection.
  server.closeAllConnections();
  const abandoned = await app[kAbandon](deadline);
  await closed;
  const report: ShutdownReport = {
    tasksCompleted: app.afterStats().completed,
    tasksAbandoned: abandoned.map(({ name, requestId }) => ({ name, requestId })),
    requestsInFlightAtClose,
  };
  app.logger.info(report, `shutdown complete: ${report.tasksAbandoned.length} after-response task(s) abandoned`);
  return report;
}

/** SIGTERM/SIGINT: a graceful close, then exit; a second signal exits at once. Returns the undo. */
function handleSignals(app: App, close: (options: { timeoutMs: number }) => Promise<ShutdownReport>, timeoutMs: number): () => void {
  const onSecondSignal = (signal: NodeJS.Signals): void => {
    app.logger.warn({ signal }, 'second signal: exiting at once');
    process.exit(1);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    app.logger.info({ signal }, 'shutting down: draining requests and after-response tasks');
    process.on('SIGTERM', onSecondSignal);
    process.on('SIGINT', onSecondSignal);
    close({ timeoutMs }).then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
