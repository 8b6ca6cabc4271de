import type { App } from '../app/app.js';
import { exitAfterLastLines } from '../log/exit.js';
import type { Logger } from '../log/logger.js';
import { writeSafely } from '../log/safe-log.js';
import { kAbandonNow } from '../symbols.js';
import { describe, errorMessage } from '../util/describe.js';
import { checkWorkFunction } from '../util/work-function.js';
import { untilDeadline } from '../util/deadline.js';
import type { ShutdownReport } from './close.js';
import { isGroupCopy } from './group-signal.js';

/** A server that shuts down with the process on SIGTERM or SIGINT. */
export interface SignalledServer {
  readonly app: App;
  readonly url: string;
  /** Its drain deadline, `shutdownTimeoutMs`. */
  readonly timeoutMs: number;
  close(options: { timeoutMs: number }): Promise<ShutdownReport>;
}

/** One server's part of the process's shutdown report. */
type ServerOutcome = { url: string } & (ShutdownReport | { error: string });

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The servers that handle signals and are not closed yet. */
const servers = new Set<SignalledServer>();
/** One record per registration, so the same function registered twice is two hooks. */
const hooks: { hook: () => void | PromiseLike<unknown> }[] = [];
/** The servers being closed since the first signal; empty before it. */
let closing: SignalledServer[] = [];

/**
 * Runs `hook` when a signal shuts the process down (SIGTERM or SIGINT, with
 * `serve()`'s `handleSignals`), after every server has drained and before the
 * process exits: close a database pool, flush a metrics client. Hooks run one
 * after another, in registration order, each within what is left of the
 * longest `shutdownTimeoutMs`; one that throws, rejects or overruns is logged,
 * the next still runs, and the process exits with code 1. Returns the function
 * that unregisters the hook.
 *
 * @example
 * ```ts
 * const pool = new Pool();
 * onShutdown(() => pool.end());
 * await serve(app, { port: 3000 });
 * ```
 */
export function onShutdown(hook: () => void | PromiseLike<unknown>): () => void {
  if (typeof hook !== 'function') throw new TypeError(`onShutdown() takes a function, got ${describe(hook)}`);
  checkWorkFunction('onShutdown()', hook);
  const record = { hook };
  hooks.push(record);
  return () => {
    const at = hooks.indexOf(record);
    if (at !== -1) hooks.splice(at, 1);
  };
}

/**
 * Adds `server` to those the process-wide signal handler closes; the handler
 * is installed with the first one. Returns the function that takes the server
 * out again (on `close()`), removing the handler with the last one.
 */
export function handleSignals(server: SignalledServer): () => void {
  if (servers.size === 0 && closing.length === 0) listen(onSignal);
  servers.add(server);
  return () => {
    if (servers.delete(server) && servers.size === 0 && closing.length === 0) unlisten(onSignal);
  };
}

function listen(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of SIGNALS) process.on(signal, handler);
}

function unlisten(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of SIGNALS) process.off(signal, handler);
}

/** The first signal: close every server at once, then run the hooks, log one report and exit. */
function onSignal(signal: NodeJS.Signals): void {
  closing = [...servers];
  unlisten(onSignal);
  listen(onSecondSignal);
  // Where Node would die of it with its stack alone, the drain's report lost: an exit that lists what it gives up, as a second signal's.
  if (process.listenerCount('uncaughtException') === 0) process.once('uncaughtException', onUncaught);
  // The first server's app logs what concerns the whole process.
  const { logger } = closing[0]!.app;
  // Its lines go out safely: a logger that throws (a mixin, a serializer) must not cut the drain they report.
  writeSafely(logger, 'info', { signal, servers: closing.map((server) => server.url) }, 'shutting down: draining requests and after-response tasks');
  const deadline = performance.now() + Math.max(...closing.map((server) => server.timeoutMs));
  shutDown(signal, deadline, logger).then(
    (code) => exitAfterLastLines(closingLoggers(), code, deadline - performance.now()),
    (error: unknown) => {
      writeSafely(logger, 'error', { err: error }, 'shutdown failed');
      exitAfterLastLines(closingLoggers(), 1);
    },
  );
}

/** Resolves with the exit code: 1 if a server's close or a hook failed. */
async function shutDown(signal: NodeJS.Signals, deadline: number, logger: Logger): Promise<number> {
  const settled = await Promise.allSettled(closing.map((server) => server.close({ timeoutMs: server.timeoutMs })));
  const outcomes = settled.map((result, i): ServerOutcome => {
    const { url } = closing[i]!;
    if (result.status === 'fulfilled') return { url, ...result.value };
    writeSafely(logger, 'error', { err: result.reason, url }, `shutdown of the server at ${url} failed`);
    return { url, error: String(result.reason) };
  });
  const hooksRun = await runHooks(deadline, logger);
  const abandoned = outcomes.reduce((sum, outcome) => sum + ('tasksAbandoned' in outcome ? outcome.tasksAbandoned.length : 0), 0);
  const serversFailed = outcomes.filter((outcome) => 'error' in outcome).length;
  writeSafely(
    logger,
    'info',
    { signal, servers: outcomes, hooks: hooksRun },
    `process shutdown complete: ${outcomes.length} server(s) closed (${serversFailed} failed), ${abandoned} after-response task(s) abandoned, ${hooksRun.failed} of ${hooksRun.ran} shutdown hook(s) failed`,
  );
  return serversFailed + hooksRun.failed > 0 ? 1 : 0;
}

/** Runs the hooks in order, each isolated and within `deadline`; resolves with how many ran and how many failed. Also for a process that never served (cluster.ts). */
export async function runHooks(deadline: number, logger: Logger): Promise<{ ran: number; failed: number }> {
  const run = [...hooks];
  let failed = 0;
  for (const { hook } of run) {
    const name = hook.name || 'anonymous';
    let error: unknown;
    let threw = false;
    const ended = new Promise<unknown>((resolve) => resolve(hook())).catch((e: unknown) => {
      threw = true;
      error = e;
    });
    const finished = await untilDeadline(ended, deadline);
    if (threw) writeSafely(logger, 'error', { err: error, hook: name }, `shutdown hook ${name} failed`);
    else if (!finished) writeSafely(logger, 'error', { hook: name }, `shutdown hook ${name} did not finish by the shutdown deadline`);
    if (threw || !finished) failed++;
  }
  return { ran: run.length, failed };
}

/** A second signal: give up what each app still has to run, list it, and exit at once; unless it is the process group's copy of the first (see group-signal.ts). */
function onSecondSignal(signal: NodeJS.Signals): void {
  if (isGroupCopy(signal)) {
    writeSafely(closing[0]!.app.logger, 'info', { signal }, `${signal}, the process group's copy of the signal the primary's word came with: already shutting down, not a second signal`);
    return;
  }
  exitNow('warn', { signal }, 'second signal: exiting at once');
}

/** An exception nothing caught during the drain (a task's timer that throws): logged with what the exit gives up. */
function onUncaught(error: unknown): void {
  exitNow('fatal', { err: error }, `an uncaught exception during shutdown (${errorMessage(error)}): exiting at once`);
}

/** Each app gives up what it still has to run and lists it; the process exits with code 1. */
function exitNow(level: 'warn' | 'fatal', fields: Record<string, unknown>, message: string): void {
  const urlsByApp = new Map<App, string[]>();
  for (const { app, url } of closing) urlsByApp.set(app, [...(urlsByApp.get(app) ?? []), url]);
  for (const [app, urls] of urlsByApp) {
    const tasksAbandoned = app[kAbandonNow]().map(({ name, requestId }) => ({ name, requestId }));
    writeSafely(app.logger, level, { ...fields, servers: urls, tasksAbandoned }, `${message}; ${tasksAbandoned.length} after-response task(s) abandoned`);
  }
  exitAfterLastLines(closingLoggers(), 1);
}

/** Every closing app's logger: each app without one of its own has its own pino on stdout, each to end before the exit. */
function closingLoggers(): Logger[] {
  return closing.map(({ app }) => app.logger);
}
