import { runWorker } from '../durable/worker.js';
import { appTasks } from './app-tasks.js';
import { loadApp } from './load-app.js';
import type { Output } from './output.js';
import { integer, parse } from './usage.js';

export const WORKER_HELP = `Usage: coda worker <module> [options]

Runs the durable tasks of the app that <module> exports, from the app's task
store, beside the web processes that register them, until SIGTERM or SIGINT
(running attempts get 10 s to finish; the rest go back to the store).

Options:
  -c, --concurrency <n>  attempts running at once (default 16)
  -h, --help             show this help

Example:
  coda worker ./app.ts --concurrency 32`;

const OPTIONS = {
  concurrency: { type: 'string', short: 'c' },
} as const;

/** `coda worker`: leaves the worker running, saying so on `progress`. */
export async function workerCommand(args: string[], progress: Output): Promise<undefined> {
  const command = 'coda worker';
  const { values, positionals } = parse(command, args, OPTIONS, { min: 1, max: 1 });
  const concurrency = integer(command, 'concurrency', values['concurrency'], 16, 1);
  const module = positionals[0]!;
  const app = await loadApp(module);
  const { definitions, store } = appTasks(app, module);
  if (definitions.length === 0) throw new Error(`the app of ${module} defines no durable task: nothing to run (createApp({ tasks: { definitions } }))`);
  await runWorker({ definitions, store, concurrency, logger: app.logger });
  progress.line(`coda: worker running ${definitions.map((d) => d.name).join(', ')} from ${store.description} (pid ${process.pid})`);
  return undefined;
}
