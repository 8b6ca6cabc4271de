import path from 'node:path';
import type { Logger } from 'pino';
import { exitAfterLastLines } from '../log/exit.js';
import { defaultLogger } from '../log/logger.js';
import { Metrics, type MetricsOptions } from '../observe/metrics.js';
import { durableCounts } from '../observe/metrics-source.js';
import { tracingFrom, type TracingOptions } from '../observe/tracing.js';
import { untilDeadline } from '../util/deadline.js';
import { checkFeature, checkKeys, checkMs } from '../util/options.js';
import { kStorePath, kTracer } from '../symbols.js';
import { closeStore } from './close-store.js';
import { checkStore, definitionsByName, RUNNER_KEYS, runnerSettings, type RunnerOptions } from './runner-options.js';
import { Runner, systemClock, type AttemptRecord } from './runner.js';
import type { StoredTask, TaskStore } from './store.js';
import type { Task } from './task.js';
import type { DurableTracer } from './task-tracer.js';
import { safeLog } from '../log/safe-log.js';
import { readThrown } from './thrown.js';

export interface WorkerOptions extends RunnerOptions {
  /** The tasks this worker runs; tasks of other names stay in the store for processes that know them. */
  definitions: readonly Task<never>[];
  store: TaskStore;
  logger?: Logger;
  /**
   * Close gracefully on SIGTERM, SIGINT or SIGHUP (a closed terminal), then exit; a second signal exits at once
   * (code 1). On an uncaught exception or unhandled rejection, record the failure of the attempts running (naming
   * it), then exit 1. Default true.
   */
  handleSignals?: boolean;
  /** How long running attempts may take to finish once the worker closes (a signal, or `close()` without a `timeoutMs`): then they are aborted and given back to the store. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
  /** A span per attempt, continuing the trace of the request that registered the task (as `createApp({ tracing })`); needs `@opentelemetry/api`. Default off. */
  tracing?: boolean | TracingOptions;
  /** @internal A tracer made already, in `tracing`'s stead: the app's, for `coda worker`. */
  [kTracer]?: DurableTracer | undefined;
  /**
   * Prometheus metrics of the attempts this worker runs (`coda_tasks_total`, `coda_task_run_seconds` and
   * `coda_task_wait_seconds`, `kind="durable"`) and the store's durable gauges, in prom-client's global registry
   * or `metrics.registry`, as `createApp({ metrics })` registers an app's: serve them with `metricsView()` on a
   * port of the worker's own. Needs `prom-client`. Default off.
   */
  metrics?: boolean | MetricsOptions;
}

export interface Worker {
  /** Stops claiming, lets running attempts finish until the deadline (`timeoutMs`, by default `shutdownTimeoutMs`), gives the rest back to the store; resolves with them. */
  close(options?: { timeoutMs?: number }): Promise<StoredTask[]>;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** How long a worker dying of an uncaught exception waits for the store to record its running attempts' failure. */
const FATAL_GRACE_MS = 1000;

const KEYS = ['definitions', 'store', ...RUNNER_KEYS, 'logger', 'handleSignals', 'shutdownTimeoutMs', 'tracing', 'metrics'];
/** A worker runs no after-response task: its gauges count none. */
const NO_AFTER = { pending: 0, running: 0 };

/**
 * Runs durable tasks from a store in this process, beside the web processes
 * that register them (on SQLite: processes on the same machine and file; on
 * BullMQ: anywhere).
 *
 * @example
 * ```ts
 * await runWorker({ definitions: [sendWelcome], store: sqliteStore({ path: 'var/tasks.db' }), concurrency: 16 });
 * ```
 */
export async function runWorker(options: WorkerOptions): Promise<Worker> {
  checkKeys('runWorker()', options, KEYS);
  const definitions = definitionsByName('runWorker(): definitions', options.definitions ?? []);
  if (definitions.size === 0) throw new TypeError('runWorker(): definitions lists no task to run');
  const logger = options.logger ?? defaultLogger();
  // Its own lines, on the way to recording attempts and stopping: one that throws stops neither (see safeLog()).
  const log = safeLog(logger);
  const { store, tracing } = options;
  if (store === undefined) throw new TypeError('runWorker(): store is not set: a worker runs the tasks of a store, e.g. sqliteStore({ path: "var/tasks.db" })');
  checkStore('runWorker(): store', store);
  const tracer = options[kTracer] ?? tracingFrom(tracing, 'runWorker()');
  const unregistered = tracer?.unregistered?.();
  if (unregistered !== undefined) log.warn(unregistered);
  const shutdownTimeoutMs = checkMs('runWorker(): shutdownTimeoutMs', options.shutdownTimeoutMs ?? 10_000);
  checkFeature('runWorker(): metrics', options.metrics);
  const metrics = options.metrics === undefined || options.metrics === false
    ? undefined
    : new Metrics(options.metrics, { after: () => NO_AFTER, durable: () => store.stats(systemClock.now()).then(durableCounts) }, logger, 'runWorker()', false);
  await store.open();
  const runner = new Runner({
    store, definitions, logger, clock: systemClock, random: Math.random, tracer,
    ...metrics === undefined ? {} : { observers: new Set([(record: AttemptRecord) => metrics.task('durable', record)]) },
    ...runnerSettings('runWorker(): ', options),
  });
  runner.start();
  // The runner's timers do not hold the process open: a worker must.
  const alive = setInterval(() => {}, 1 << 30);
  let closing: Promise<StoredTask[]> | undefined;
  const close = ({ timeoutMs = shutdownTimeoutMs } = {}): Promise<StoredTask[]> => (closing ??= (async () => {
    const deadline = performance.now() + timeoutMs;
    const left = await runner.close(deadline);
    // Its gauges no longer ask the closed store; what it counted stays counted.
    metrics?.close();
    await closeStore(store, deadline, log);
    clearInterval(alive);
    log.info({ tasksLeftInStore: left.map(({ id, name }) => ({ id, name })) }, `worker stopped: ${left.length} durable task(s) left in the store`);
    return left;
  })());
  if (options.handleSignals ?? true) {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        log.warn({ signal }, `second signal: exiting at once; the ${runner.running} running durable task attempt(s) are left to their lease`);
        // It returns: process.exit comes once the last lines are written.
        return exitAfterLastLines(logger, 1);
      }
      signalled = true;
      log.info({ signal }, 'worker shutting down: finishing running tasks');
      void close().then(() => exitAfterLastLines(logger, 0), () => exitAfterLastLines(logger, 1));
    };
    // SIGHUP too: a worker started from a terminal that closes would otherwise die outright, its running attempts left to stall.
    for (const signal of SIGNALS) process.on(signal, onSignal);
    // Node's default would exit at once: the running attempts' tasks were then found stalled a lease later, the cause lost.
    const fatal = (what: string) => (thrown: unknown): void => {
      // Read with care: a value whose reading throws (a Proxy) threw again in the log line, and the worker died (code 7) with nothing recorded.
      const { error } = readThrown(thrown);
      log.fatal({ err: error }, `worker dying of ${what}: recording the failure of the ${runner.running} durable task attempt(s) it was running`);
      void untilDeadline(runner.failRunning(what, error), performance.now() + FATAL_GRACE_MS).finally(() => exitAfterLastLines(logger, 1));
    };
    process.once('uncaughtException', fatal('an uncaught exception'));
    process.once('unhandledRejection', fatal('an unhandled rejection'));
  }
  // A relative path is the working directory's: a worker started from elsewhere opens (and creates) another, empty file.
  const file = (store as { [kStorePath]?: string })[kStorePath];
  const at = file === undefined || file === ':memory:' ? undefined : path.resolve(file);
  log.info({ tasks: [...definitions.keys()], store: store.description, file: at }, at === undefined ? 'worker started' : `worker started on ${at}`);
  return { close };
}
