import { runWorker } from '../durable/worker.js';
import { kTracer } from '../symbols.js';
import { appTasks } from './app-tasks.js';
import { loadApp } from './load-app.js';
import { holdStartupSignals } from './startup-signals.js';
import type { Output } from './output.js';
import { MAX_TIMER_MS } from '../util/options.js';
import { integer, parse } from './usage.js';

/** What `coda worker --help` prints. */
export const WORKER_HELP = `Usage: coda worker <module> [options]

Runs the durable tasks of the app that <module> exports, from the app's task
store, beside the web processes that register them, until SIGTERM, SIGINT or
SIGHUP (running attempts get the shutdown timeout to finish; the rest go back
to the store), with the app's runner settings (createApp({ tasks: { leaseMs,
pollMs, ... } })).

Options:
  -c, --concurrency <n>      attempts running at once (default: the app's
                             tasks.concurrency, 16 unless it sets one)
  --shutdown-timeout <ms>    how long running attempts may take to finish
                             once the worker is stopped (default 10000)
  -h, --help                 show this help

Example:
  coda worker ./app.ts --concurrency 32`;

const OPTIONS = {
  concurrency: { type: 'string', short: 'c' },
  'shutdown-timeout': { type: 'string' },
} as const;

/** `coda worker`: leaves the worker running, saying so on `progress`. */
export async function workerCommand(args: string[], progress: Output): Promise<undefined> {
  const command = 'coda worker';
  const { values, positionals } = parse(command, args, OPTIONS, { min: 1, max: 1 });
  // Checked before the app loads; NaN when not given: the app's.
  const concurrency = integer(command, 'concurrency', values['concurrency'], Number.NaN, 1);
  const shutdownTimeoutMs = integer(command, 'shutdown-timeout', values['shutdown-timeout'], 10_000, 1, MAX_TIMER_MS);
  const module = positionals[0]!;
  const started = holdStartupSignals(progress, shutdownTimeoutMs);
  const app = await loadApp(module);
  const { definitions, store, settings, tracer } = appTasks(app, module, 'run');
  if (definitions.length === 0) throw new Error(`the app of ${module} defines no durable task: nothing to run (createApp({ tasks: { definitions } }))`);
  // The app's lease, poll and retention: a worker recovering the web processes' tasks (and they its) on another lease would misjudge them.
  // The app's tracing too: its attempts continue the traces of the requests that registered them, as in the web processes.
  await runWorker({ definitions, store, logger: app.logger, ...settings, shutdownTimeoutMs, concurrency: Number.isNaN(concurrency) ? settings.concurrency : concurrency, [kTracer]: tracer });
  progress.line(`coda: worker running ${definitions.map((d) => d.name).join(', ')} from ${store.description} (pid ${process.pid})`);
  started();
  return undefined;
}
