import { runWorker } from '../durable/worker.js';
import { createApp } from '../app/app.js';
import { metricsView } from '../observe/metrics-view.js';
import { get } from '../routing/routes.js';
import { serve } from '../server/serve.js';
import { kMetrics, kTracer } from '../symbols.js';
import { appTasks } from './app-tasks.js';
import { loadApp } from './load-app.js';
import { holdStartupSignals } from './startup-signals.js';
import type { Output } from './output.js';
import { MAX_TIMER_MS } from '../util/options.js';
import { integer, parse, UsageError } from './usage.js';

/** What `coda worker --help` prints. */
export const WORKER_HELP = `Usage: coda worker <module> [options]

Runs the durable tasks of the app that <module> exports, from the app's task
store, beside the web processes that register them, until SIGTERM, SIGINT or
SIGHUP (running attempts get the shutdown timeout to finish; the rest go back
to the store), with the app's runner settings (createApp({ tasks: { leaseMs,
pollMs, ... } })).

Options:
  -c, --concurrency <n>        attempts running at once (default: the app's
                               tasks.concurrency, 16 unless it sets one)
      --shutdown-timeout <ms>  how long running attempts may take to finish
                               once the worker is stopped (default 10000)
      --metrics-port <n>       count the attempts it runs in Prometheus metrics
                               (the app's registry, else prom-client's global
                               one) and serve them at /metrics on this port
                               (0 picks a free one; needs prom-client)
      --metrics-host <address> address the metrics listen on (default
                               127.0.0.1; 0.0.0.0 for every interface)
  -h, --help                   show this help

Example:
  coda worker ./app.ts --concurrency 32 --metrics-port 9465`;

const OPTIONS = {
  concurrency: { type: 'string', short: 'c' },
  'shutdown-timeout': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
} as const;

/** `coda worker`: leaves the worker running, saying so on `progress`. */
export async function workerCommand(args: string[], progress: Output): Promise<undefined> {
  const command = 'coda worker';
  const { values, positionals } = parse(command, args, OPTIONS, { min: 1, max: 1 });
  // Checked before the app loads; NaN when not given: the app's.
  const concurrency = integer(command, 'concurrency', values['concurrency'], Number.NaN, 1);
  const shutdownTimeoutMs = integer(command, 'shutdown-timeout', values['shutdown-timeout'], 10_000, 1, MAX_TIMER_MS);
  const metricsPort = integer(command, 'metrics-port', values['metrics-port'], Number.NaN, 0, 65_535);
  const metricsHost = values['metrics-host'];
  if (metricsHost !== undefined && Number.isNaN(metricsPort)) throw new UsageError(command, '--metrics-host is the address of --metrics-port, which is not given');
  const module = positionals[0]!;
  const started = holdStartupSignals(progress, shutdownTimeoutMs);
  const app = await loadApp(module);
  const { definitions, store, settings, tracer } = appTasks(app, module, 'run');
  if (definitions.length === 0) throw new Error(`the app of ${module} defines no durable task: nothing to run (createApp({ tasks: { definitions } }))`);
  // The app's lease, poll and retention: a worker recovering the web processes' tasks (and they its) on another lease would misjudge them.
  // The app's tracing too: its attempts continue the traces of the requests that registered them, as in the web processes.
  // The app's registry, when it has metrics (they are registered there, its default ones collected or not as it said).
  // The app itself is not served here: its gauges are let go, or a scrape would ask its task store through the app
  // (opening a runner of its own beside the worker's) and count the store's tasks a second time beside the worker's.
  const appMetrics = app[kMetrics];
  appMetrics?.close();
  const registry = appMetrics?.registry;
  const metrics = Number.isNaN(metricsPort) ? undefined : registry === undefined ? true : { registry, defaultMetrics: false };
  await runWorker({
    definitions, store, logger: app.logger, ...settings, shutdownTimeoutMs, concurrency: Number.isNaN(concurrency) ? settings.concurrency : concurrency, [kTracer]: tracer,
    ...metrics === undefined ? {} : { metrics },
  });
  // Served until the process ends (the worker's signal handling ends it).
  const scrape = Number.isNaN(metricsPort)
    ? undefined
    : await serve(createApp({ logger: app.logger, accessLog: false, routes: [get('/metrics', metricsView(registry === undefined ? {} : { registry }))] }), {
      port: metricsPort, host: typeof metricsHost === 'string' ? metricsHost : '127.0.0.1', handleSignals: false,
    });
  progress.line(`coda: worker running ${definitions.map((d) => d.name).join(', ')} from ${store.description} (pid ${process.pid})${scrape === undefined ? '' : `; metrics at ${scrape.url}/metrics`}`);
  started();
  return undefined;
}
