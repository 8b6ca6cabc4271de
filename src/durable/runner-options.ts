import { describe } from '../util/describe.js';
import { checkCount, checkMs } from '../util/options.js';
import type { TaskStore } from './store.js';
import { Task } from './task.js';

/** How a runner paces the attempts of a process: an app's (`createApp({ tasks })`) or a worker's (`runWorker()`). */
export interface RunnerOptions {
  /** Attempts running at once in this process. Default 16. */
  concurrency?: number;
  /** How long a hold or claim lasts without a heartbeat: a dead process's tasks are recovered within about this. Default 15,000 ms. */
  leaseMs?: number;
  /** How often to look for tasks made ready elsewhere (retries, other processes' registrations). Default 1,000 ms. */
  pollMs?: number;
  /** How long completed tasks are kept before they are pruned. Default one hour. */
  retentionMs?: number;
}

export const RUNNER_KEYS = ['concurrency', 'leaseMs', 'pollMs', 'retentionMs'];

/** The longest retention: ten years. */
const MAX_RETENTION_MS = 10 * 366 * 24 * 60 * 60_000;

/** `RunnerOptions` checked, with their defaults; `prefix` names them in errors (`runWorker(): `). */
export function runnerSettings(prefix: string, options: RunnerOptions): Required<RunnerOptions> {
  return {
    concurrency: checkCount(`${prefix}concurrency`, options.concurrency ?? 16),
    leaseMs: checkMs(`${prefix}leaseMs`, options.leaseMs ?? 15_000),
    pollMs: checkMs(`${prefix}pollMs`, options.pollMs ?? 1_000),
    // An age compared with finished times, not a timer (pruning runs every minute at most): years are fine.
    retentionMs: checkMs(`${prefix}retentionMs`, options.retentionMs ?? 60 * 60_000, { max: MAX_RETENTION_MS }),
  };
}

/** The task definitions by name; `where` names the option in errors. */
export function definitionsByName(where: string, definitions: readonly Task<never>[]): Map<string, Task> {
  const byName = new Map<string, Task>();
  for (const definition of definitions) {
    if (!(definition instanceof Task)) throw new TypeError(`${where}: expected tasks made by task(), got ${describe(definition)}`);
    if (byName.has(definition.name)) throw new TypeError(`${where}: two tasks are named '${definition.name}'`);
    byName.set(definition.name, definition as Task);
  }
  return byName;
}

/** Refuses what is not a task store (a path given for the store), naming `where` (`createApp() tasks.store`): it failed later, as "store.open is not a function". */
export function checkStore(where: string, store: unknown): asserts store is TaskStore {
  if (store === null || typeof store !== 'object' || typeof (store as Partial<TaskStore>).claim !== 'function') {
    throw new TypeError(`${where} must be a task store (sqliteStore(), bullmqStore()), got ${describe(store)}`);
  }
}
