import type { Logger } from 'pino';
import { defaultLogger } from '../log/logger.js';
import { Tracing, type TracingOptions } from '../observe/tracing.js';
import { describe } from '../util/describe.js';
import { checkCount, checkKeys, checkMs } from '../util/options.js';
import { Runner, systemClock } from './runner.js';
import type { StoredTask, TaskStore } from './store.js';
import { Task } from './task.js';

export interface WorkerOptions {
  /** The tasks this worker runs; tasks of other names stay in the store for processes that know them. */
  definitions: readonly Task<never>[];
  store: TaskStore;
  /** Attempts running at once. Default 16. */
  concurrency?: number;
  /** As `createApp({ tasks: { leaseMs } })`. Default 15,000 ms. */
  leaseMs?: number;
  /** How often to look for ready tasks. Default 1,000 ms. */
  pollMs?: number;
  /** How long completed tasks are kept. Default one hour. */
  retentionMs?: number;
  logger?: Logger;
  /** Close gracefully on SIGTERM and SIGINT, then exit. Default true. */
  handleSignals?: boolean;
  /** A span per attempt, continuing the trace of the request that registered the task (as `createApp({ tracing })`); needs `@opentelemetry/api`. Default off. */
  tracing?: boolean | TracingOptions;
}

export interface Worker {
  /** Stops claiming, lets running attempts finish until the deadline, gives the rest back to the store; resolves with them. */
  close(options?: { timeoutMs?: number }): Promise<StoredTask[]>;
}

const KEYS = ['definitions', 'store', 'concurrency', 'leaseMs', 'pollMs', 'retentionMs', 'logger', 'handleSignals', 'tracing'];

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
  const definitions = new Map<string, Task>();
  for (const definition of options.definitions ?? []) {
    if (!(definition instanceof Task)) throw new TypeError(`runWorker(): definitions must be tasks made by task(), got ${describe(definition)}`);
    if (definitions.has(definition.name)) throw new TypeError(`runWorker(): two tasks are named '${definition.name}'`);
    definitions.set(definition.name, definition as Task);
  }
  if (definitions.size === 0) throw new TypeError('runWorker(): definitions lists no task to run');
  const logger = options.logger ?? defaultLogger();
  const { store, tracing } = options;
  if (tracing !== undefined && typeof tracing !== 'boolean' && (tracing === null || typeof tracing !== 'object')) {
    throw new TypeError(`runWorker(): tracing must be true, false or an options object, got ${describe(tracing)}`);
  }
  const tracer = tracing === undefined || tracing === false ? undefined : new Tracing(tracing, 'runWorker()');
  await store.open();
  const runner = new Runner({
    store, definitions, logger, clock: systemClock, random: Math.random, tracer,
    concurrency: checkCount('runWorker(): concurrency', options.concurrency ?? 16),
    leaseMs: checkMs('runWorker(): leaseMs', options.leaseMs ?? 15_000),
    pollMs: checkMs('runWorker(): pollMs', options.pollMs ?? 1_000),
    retentionMs: checkMs('runWorker(): retentionMs', options.retentionMs ?? 60 * 60_000),
  });
  runner.start();
  // The runner's timers do not hold the process open: a worker must.
  const alive = setInterval(() => {}, 1 << 30);
  let closing: Promise<StoredTask[]> | undefined;
  const close = ({ timeoutMs = 10_000 } = {}): Promise<StoredTask[]> => (closing ??= (async () => {
    const left = await runner.close(performance.now() + timeoutMs);
    await store.close();
    clearInterval(alive);
    logger.info({ tasksLeftInStore: left.map(({ id, name }) => ({ id, name })) }, `worker stopped: ${left.length} durable task(s) left in the store`);
    return left;
  })());
  if (options.handleSignals ?? true) {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'worker shutting down: finishing running tasks');
      process.once(signal, () => process.exit(1));
      void close().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  logger.info({ tasks: [...definitions.keys()], store: store.description }, 'worker started');
  return { close };
}
