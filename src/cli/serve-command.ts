import cluster from 'node:cluster';
import { Primary, runClusterWorker, type ClusterSettings } from './cluster.js';
import { listen } from './listen.js';
import { holdStartupSignals } from './startup-signals.js';
import { loadApp } from './load-app.js';
import type { Output } from './output.js';
import { MAX_TIMER_MS } from '../util/options.js';
import { integer, parse } from './usage.js';

/** What `coda serve --help` prints. */
export const SERVE_HELP = `Usage: coda serve <module> [options]

Serves the app that <module> exports (its default export, or the export
named \`app\`) until SIGTERM or SIGINT (or SIGHUP, a closed terminal's, in one
process), then shuts down gracefully: requests in flight are answered and
after-response tasks run, within the shutdown timeout.

Options:
  -p, --port <n>              port to listen on (default: $PORT, else 3000; 0 picks a free one)
      --host <address>        address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  -w, --workers <n>           run n processes sharing the port (node:cluster): a worker that dies
                              is replaced, SIGHUP restarts them one at a time, SIGTERM drains all
      --shutdown-timeout <ms> how long a graceful shutdown may take (default 10000)
  -h, --help                  show this help

TypeScript modules load through Node's type stripping (Node >= 22.18), or
through tsx: NODE_OPTIONS='--import tsx' coda serve ./app.ts

Example:
  coda serve ./app.ts --port 8000 --workers 4`;

const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  workers: { type: 'string', short: 'w' },
  'shutdown-timeout': { type: 'string' },
} as const;

/** `coda serve`: leaves the server running, saying so on `progress`. */
export async function serveCommand(args: string[], progress: Output): Promise<undefined> {
  const command = 'coda serve';
  const { values, positionals } = parse(command, args, OPTIONS, { min: 1, max: 1 });
  const host = values['host'];
  const settings: ClusterSettings = {
    module: positionals[0]!,
    // A bad $PORT is named as such: the user gave no --port.
    port: values['port'] === undefined
      ? integer(command, 'port', process.env['PORT'], 3000, 0, 65_535, '$PORT (the default of --port)')
      : integer(command, 'port', values['port'], 3000, 0, 65_535),
    host: typeof host === 'string' ? host : '127.0.0.1',
    workers: integer(command, 'workers', values['workers'], 0, 1, 1024),
    shutdownTimeoutMs: integer(command, 'shutdown-timeout', values['shutdown-timeout'], 10_000, 1, MAX_TIMER_MS),
  };
  if (cluster.isWorker) {
    await runClusterWorker(settings, progress);
  } else if (settings.workers > 0) {
    await new Primary(settings, progress).start();
  } else {
    const started = holdStartupSignals(progress, settings.shutdownTimeoutMs);
    const app = await loadApp(settings.module);
    const server = await listen(app, settings);
    // A closed terminal sends SIGHUP, whose default kills at once (the requests in flight and their tasks with it): drain as on SIGTERM.
    process.on('SIGHUP', () => process.kill(process.pid, 'SIGTERM'));
    progress.line(`coda: serving ${settings.module} on ${progress.style('cyan', server.url)} (pid ${process.pid}; Ctrl-C or SIGTERM stops it gracefully)`);
    started();
  }
  return undefined;
}
