import type { App } from '../app/app.js';
import type { TaskStore } from '../durable/store.js';
import type { Task } from '../durable/task.js';
import { kDefinitions, kStore } from '../symbols.js';
import { AppLoadError } from './load-app.js';

/** The app's durable task definitions and store, or an error saying what is missing. */
export function appTasks(app: App, module: string): { definitions: Task[]; store: TaskStore } {
  const store = app.tasks[kStore];
  if (store === undefined) throw new AppLoadError(`the app of ${module} has no task store: set createApp({ tasks: { store: sqliteStore({ path }) } })`);
  return { definitions: app.tasks[kDefinitions], store };
}
