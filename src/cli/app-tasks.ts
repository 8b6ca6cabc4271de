import { existsSync } from 'node:fs';
import path from 'node:path';
import type { App } from '../app/app.js';
import type { RunnerOptions } from '../durable/runner-options.js';
import type { TaskStore } from '../durable/store.js';
import type { Task } from '../durable/task.js';
import type { DurableTracer } from '../durable/task-tracer.js';
import { kDefinitions, kOpenToInspect, kRunnerSettings, kStore, kStorePath, kTracer } from '../symbols.js';
import { AppLoadError } from './load-app.js';

/**
 * What a command does with the store: `run` its tasks (`coda worker`, which
 * may create the store's file, as a web process does when it starts first)
 * or `inspect` it (`coda tasks`, which never creates one: a mistyped path
 * would show an empty store).
 */
export type StoreUse = 'run' | 'inspect';

/**
 * The app's durable task definitions, store, runner settings and tracer (its
 * `tracing`, undefined when off), or an error saying what is missing, or why
 * this process cannot share the store.
 */
export function appTasks(app: App, module: string, use: StoreUse): { definitions: Task[]; store: TaskStore; settings: Required<RunnerOptions>; tracer: DurableTracer | undefined } {
  const store = app.tasks[kStore];
  if (store === undefined) throw new AppLoadError(`the app of ${module} has no task store: set createApp({ tasks: { store: sqliteStore({ path }) } })`);
  checkShared(store, module, use);
  return { definitions: app.tasks[kDefinitions], store, settings: app.tasks[kRunnerSettings], tracer: app.tasks[kTracer] };
}

/** A SQLite store this command can share with the app's other processes: a file, which exists unless the command may create it. */
function checkShared(store: TaskStore, module: string, use: StoreUse): void {
  const file = (store as { [kStorePath]?: string })[kStorePath];
  if (file === undefined) return;
  if (file === ':memory:') {
    const why = use === 'run' ? 'a worker would see none of its tasks' : 'there is nothing to look at';
    throw new AppLoadError(`the app of ${module} keeps its tasks in an in-memory SQLite store (':memory:'), which no other process shares: ${why}; give sqliteStore() a file path`);
  }
  if (use === 'inspect' && !existsSync(file)) {
    throw new AppLoadError(`the app of ${module} keeps its tasks in ${file}, where there is no database (${path.resolve(file)}): check the path; coda tasks creates none (the app's web process or coda worker does)`);
  }
}

/** Opens the store for `coda tasks`: a SQLite store writes no schema (an empty file or another program's is refused); other stores open as usual. */
export function openToInspect(store: TaskStore): Promise<void> {
  const inspect = (store as { [kOpenToInspect]?: () => Promise<void> })[kOpenToInspect];
  return inspect === undefined ? store.open() : inspect.call(store);
}
