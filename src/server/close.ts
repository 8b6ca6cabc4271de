import type { App } from '../app/app.js';
import { kRequestsDone, kRequestsOn, kServerClosed, kServerClosing, kShutDown, kTimedOut } from '../symbols.js';
import { writeSafely } from '../log/safe-log.js';
import { untilDeadline } from '../util/deadline.js';
import { closeIdleConnections, stopAccepting } from './connections.js';
import type { Listener } from './listener.js';

/** What `close()` reports, and logs. */
export interface ShutdownReport {
  /** After-response tasks completed over the app's life, including during the drain. */
  tasksCompleted: number;
  /** Tasks that did not run or were aborted at the deadline. */
  tasksAbandoned: { name: string; requestId: string }[];
  /** Requests being handled on the server's connections when `close()` was called. */
  requestsInFlightAtClose: number;
  /**
   * Durable tasks this process was running at the deadline: aborted and
   * given back to the store, where another process (or the next start) runs
   * them. Not lost, so not abandoned.
   */
  tasksLeftInStore: { name: string; id: string; requestId: string | null }[];
}

/**
 * One server's graceful close: stop accepting, answer every request received
 * on it (with `Connection: close`; HTTP/2 sessions get a GOAWAY), close the
 * idle keep-alive connections; then, if it was the last of the app's servers
 * to close, run the pending after-response tasks and at the deadline abort
 * the rest. While another of the app's servers is open, the app goes on as
 * before there: its requests and tasks are that server's to drain. Logs the
 * report and resolves with it.
 */
export async function closeServer(app: App, listener: Listener, timeoutMs: number): Promise<ShutdownReport> {
  const deadline = performance.now() + timeoutMs;
  const { server } = listener;
  const requestsInFlightAtClose = app[kRequestsOn](server);
  app[kServerClosing](server);
  const closed = stopAccepting(server);
  listener.closeSessions();
  await closeIdleConnections(app, listener, closed, deadline);
  // Left: connections with no request yet (silent, or a request head half sent) and, at the deadline, requests still running.
  app[kTimedOut](server);
  listener.closeAllConnections();
  const others = app[kServerClosed](server);
  const report = others === 0 ? await closeApp(app, deadline, requestsInFlightAtClose) : leaveApp(app, others, requestsInFlightAtClose);
  await closed;
  return report;
}

/**
 * The app's shutdown when a framework closes its own server (Fastify's
 * `close()` stops accepting and closes the connections): the requests in
 * flight finish, then the pending tasks run, until the deadline. Logs the
 * report and resolves with it. `server`: the framework's, whose responses
 * ask for their connection's close from now on.
 */
export async function drainApp(app: App, timeoutMs: number, server?: object): Promise<ShutdownReport> {
  const deadline = performance.now() + timeoutMs;
  const requestsInFlightAtClose = app.requestsInFlight;
  app[kServerClosing](server);
  await untilDeadline(app[kRequestsDone](), deadline);
  return closeApp(app, deadline, requestsInFlightAtClose);
}

/** Runs what is left until the deadline, gives up the rest and gives running durable tasks back to the store; logs the report. */
async function closeApp(app: App, deadline: number, requestsInFlightAtClose: number): Promise<ShutdownReport> {
  const [abandoned, left] = await app[kShutDown](deadline);
  const report: ShutdownReport = {
    tasksCompleted: app.afterStats().completed,
    tasksAbandoned: abandoned.map(({ name, requestId }) => ({ name, requestId })),
    requestsInFlightAtClose,
    tasksLeftInStore: left.map(({ name, id, request }) => ({ name, id, requestId: request?.id ?? null })),
  };
  const inStore = report.tasksLeftInStore.length === 0 ? '' : `, ${report.tasksLeftInStore.length} durable task(s) left in the store`;
  // A logger that throws must not turn a shutdown done into a rejected close(), its report lost.
  writeSafely(app.logger, 'info', report, `shutdown complete: ${report.tasksAbandoned.length} after-response task(s) abandoned${inStore}`);
  return report;
}

/** A server closed while `others` of the app's servers are still open (or closing): nothing of the app's is given up; its tasks run on. Logs the report. */
function leaveApp(app: App, others: number, requestsInFlightAtClose: number): ShutdownReport {
  const report: ShutdownReport = { tasksCompleted: app.afterStats().completed, tasksAbandoned: [], requestsInFlightAtClose, tasksLeftInStore: [] };
  writeSafely(app.logger, 'info', report, `server closed: the app's after-response tasks are drained with its last server (${others} other still open or closing)`);
  return report;
}
