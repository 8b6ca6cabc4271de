import type { App } from '../app/app.js';
import type { RunnerOptions } from '../durable/runner-options.js';
import type { TaskStore } from '../durable/store.js';
import type { Task } from '../durable/task.js';
import { kDefinitions, kRunnerSettings, kStore } from '../symbols.js';
import { AppLoadError } from './load-app.js';

/** The app's durable task definitions, store and runner settings, or an error saying what is missing. */
export function appTasks(app: App, module: string): { definitions: Task[]; store: TaskStore; settings: Required<RunnerOptions> } {
  const store = app.tasks[kStore];
  if (store === undefined) throw new AppLoadError(`the app of ${module} has no task store: set createApp({ tasks: { store: sqliteStore({ path }) } })`);
  return { definitions: app.tasks[kDefinitions], store, settings: app.tasks[kRunnerSettings] };
}
