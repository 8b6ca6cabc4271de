import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { App } from '../app/app.js';
import { exitAfterLastLines } from '../log/exit.js';
import { ClusterMetrics } from '../observe/cluster-gather.js';
import { joinClusterMetrics, type MetricsMessage } from '../observe/cluster-scrape.js';
import { expectGroupCopy, forgetGroupCopy } from '../server/group-signal.js';
import { runHooks } from '../server/shutdown.js';
import { kShutDown } from '../symbols.js';
import { MAX_TIMER_MS } from '../util/options.js';
import { tellWorker } from '../util/tell-worker.js';
import { listen } from './listen.js';
import { loadApp } from './load-app.js';
import { holdStartupSignals } from './startup-signals.js';
import type { Output } from './output.js';

/**
 * What a cluster worker tells the primary, and what the primary asks of it (and about metrics: see cluster-scrape.ts):
 * to shut down, with the signal that stops the cluster (none for a restart), and that signal again, a second one.
 */
type Message = { coda: 'listening'; url: string } | { coda: 'shutdown'; signal?: NodeJS.Signals } | { coda: 'now'; signal: NodeJS.Signals } | MetricsMessage;

/** Replacements that fail to start in a row before the primary gives up. */
const MAX_FAILED_STARTS = 3;

/** How long past the shutdown timeout a worker may take to exit (its store's close, its last log lines) before the primary kills it. */
const EXIT_GRACE_MS = 5_000;

/** What `coda serve` was asked, as the primary and each worker need it. */
export interface ClusterSettings {
  module: string;
  workers: number;
  port: number;
  host: string;
  shutdownTimeoutMs: number;
}

/**
 * The primary of `coda serve --workers N`: forks N processes that share the
 * port (node:cluster), replaces one that dies, restarts them one at a time on
 * SIGHUP (the new one listens before the old one drains), and on SIGTERM or
 * SIGINT asks each to shut down gracefully and exits once all have (code 1 if
 * one failed). A second signal is passed on, and the workers exit at once.
 * A metrics scrape that reaches one worker is answered with every serving
 * worker's metrics, summed (cluster-gather.ts).
 */
export class Primary {
  readonly #settings: ClusterSettings;
  readonly #out: Output;
  /** Workers serving or starting; a worker being retired is not among them. */
  readonly #live = new Set<Worker>();
  /** Every worker forked and not yet exited, retiring ones included. Not `cluster.workers`: a worker leaves that only once its channel has closed too, which may come after its 'exit'. */
  readonly #running = new Set<Worker>();
  /** Workers that have listened: one that exits before is its start's failure, not a death. */
  readonly #listened = new WeakSet<Worker>();
  /** The timer that kills each worker told to shut down that has not exited yet (#kill). */
  readonly #killTimers = new Map<Worker, NodeJS.Timeout>();
  #stopping = false;
  #restarting = false;
  /** The worker whose successor the restart is starting. */
  #replacing: Worker | undefined;
  #failedStarts = 0;
  #exitCode = 0;
  readonly #metrics: ClusterMetrics;

  constructor(settings: ClusterSettings, out: Output) {
    this.#settings = settings;
    this.#out = out;
    const serving = (): Worker[] => [...this.#live].filter((worker) => this.#listened.has(worker));
    this.#metrics = new ClusterMetrics(serving, (line) => out.line(out.style('yellow', line)));
  }

  /** Forks the workers and says where they serve once all listen; if one cannot start, says why, stops the others and exits 1. */
  async start(): Promise<void> {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => this.#stop(signal));
    process.on('SIGHUP', () => void this.#restart());
    cluster.on('exit', (worker, code, signal) => this.#exited(worker, code, signal));
    cluster.on('message', (worker, message: Message) => this.#metrics.handle(worker, message as MetricsMessage));
    const { workers, module } = this.#settings;
    let started = 0;
    this.#out.progress(`starting workers 0/${workers}`);
    let urls: string[];
    try {
      urls = await Promise.all(Array.from({ length: workers }, () => this.#fork().then((url) => {
        this.#out.progress(`starting workers ${++started}/${workers}`);
        return url;
      })));
    } catch (error) {
      // Stopping already (a signal while they loaded): one that died meanwhile was taken for a second signal, the others killed loading.
      this.#out.line(this.#out.style('red', `coda: ${(error as Error).message}${this.#stopping ? '' : '; stopping'}`));
      if (this.#stopping) return;
      this.#exitCode = 1;
      this.#stop('SIGTERM', 'a worker failed to start');
      return;
    }
    if (this.#stopping) return;
    this.#out.line(`coda: serving ${module} on ${this.#out.style('cyan', urls[0]!)} with ${workers} workers (primary ${process.pid})`);
  }

  /** Forks one worker; resolves with its URL once it listens, rejects if it exits first. */
  #fork(): Promise<string> {
    const worker = cluster.fork();
    this.#live.add(worker);
    this.#running.add(worker);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: Message) => {
        if (message?.coda !== 'listening') return;
        this.#failedStarts = 0;
        this.#listened.add(worker);
        // Told to stop while it loaded, it held the word until now and drains from now, with a deadline of its own.
        if (this.#stopping) this.#killLater(worker, 'it listened, the shutdown under way');
        this.#out.line(`coda: worker ${worker.process.pid} listening on ${message.url}`);
        resolve(message.url);
      });
      worker.once('exit', (code, signal) => reject(new Error(`worker ${worker.process.pid} exited before it listened (${describeExit(code, signal)})`)));
    });
  }

  #exited(worker: Worker, code: number, signal: string | null): void {
    const wasLive = this.#live.delete(worker);
    this.#running.delete(worker);
    clearTimeout(this.#killTimers.get(worker));
    this.#killTimers.delete(worker);
    if (this.#stopping) {
      if (code !== 0) this.#exitCode = 1;
      if (this.#running.size === 0) process.exit(this.#exitCode);
      return;
    }
    // A worker the restart is replacing already has its successor on the way.
    if (!wasLive || !this.#listened.has(worker) || worker === this.#replacing) return;
    this.#out.line(this.#out.style('yellow', `coda: worker ${worker.process.pid} died (${describeExit(code, signal)}); starting another`));
    this.#replace();
  }

  #replace(): void {
    this.#fork().catch((error: unknown) => {
      if (this.#stopping) return;
      this.#out.line(this.#out.style('red', `coda: ${(error as Error).message}`));
      if (++this.#failedStarts < MAX_FAILED_STARTS) return this.#replace();
      this.#out.line(this.#out.style('red', `coda: ${MAX_FAILED_STARTS} workers in a row failed to start; shutting down`));
      this.#exitCode = 1;
      this.#stop('SIGTERM', 'workers fail to start');
    });
  }

  /** SIGHUP: each worker in turn is replaced by a new one, which listens before the old one drains and exits. */
  async #restart(): Promise<void> {
    if (this.#restarting || this.#stopping) return;
    this.#restarting = true;
    const old = [...this.#live];
    this.#out.line(`coda: restarting ${old.length} workers`);
    try {
      for (const [i, worker] of old.entries()) {
        this.#out.progress(`restarting workers ${i}/${old.length}`);
        // One that died since the restart began was replaced when it died (#exited): waiting for its exit would never end.
        if (!this.#live.has(worker)) continue;
        this.#replacing = worker;
        try {
          await this.#fork();
        } finally {
          this.#replacing = undefined;
        }
        if (this.#stopping) return;
        // It died while its successor started: the successor is its replacement.
        if (!this.#live.delete(worker)) continue;
        const exited = once(worker, 'exit');
        tellWorker(worker, { coda: 'shutdown' } satisfies Message);
        // One that never exits (see #kill) would hold the restart, and every restart after it, for good.
        this.#killLater(worker, 'it was told to shut down');
        await exited;
      }
      this.#out.line(this.#out.style('green', `coda: ${old.length} workers restarted`));
    } catch (error) {
      this.#out.line(this.#out.style('red', `coda: restart stopped: ${(error as Error).message}`));
    } finally {
      this.#restarting = false;
    }
  }

  /** Graceful shutdown of every worker, on `signal` (or for the reason `why`, the signal SIGTERM); the signal itself is passed on when it comes again. */
  #stop(signal: NodeJS.Signals, why?: string): void {
    const workers = [...this.#running];
    if (this.#stopping) {
      // A second signal: the workers exit at once (their own second signal), told so: as a signal it could be taken for the group's copy of the first.
      for (const worker of workers) {
        if (!tellWorker(worker, { coda: 'now', signal } satisfies Message)) worker.process.kill(signal);
      }
      return;
    }
    this.#stopping = true;
    if (workers.length === 0) process.exit(this.#exitCode);
    this.#out.line(`coda: ${why ?? signal}: shutting down ${workers.length} worker(s) gracefully`);
    // The signal the cluster stops on, if it was one (not workers that failed to start): its process group's copy may follow it.
    const word: Message = why === undefined ? { coda: 'shutdown', signal } : { coda: 'shutdown' };
    for (const worker of workers) {
      tellWorker(worker, word);
      // One a restart retires has had its timer since it was told. One still loading has this one until it listens, then a fresh one (#fork): it drains from then.
      if (!this.#killTimers.has(worker)) this.#killLater(worker, 'the shutdown began');
    }
  }

  /** Kills `worker` (#kill) unless it exits within #killAfterMs from now, in place of the timer it had. */
  #killLater(worker: Worker, since: string): void {
    clearTimeout(this.#killTimers.get(worker));
    this.#killTimers.set(worker, setTimeout(() => this.#kill(worker, since), this.#killAfterMs));
  }

  /** How long a worker told to shut down has to exit: its deadline and a grace, but no longer than a timer can wait (past that Node fires it at once). */
  get #killAfterMs(): number {
    return Math.min(this.#settings.shutdownTimeoutMs + EXIT_GRACE_MS, MAX_TIMER_MS);
  }

  /**
   * A worker whose event loop is blocked (a view or task that never yields) or that is stopped (SIGSTOP) never acts on
   * the word to shut down, nor on its own deadline: the primary waited for it for good. Past the deadline and a grace
   * (`since` that word, or since it listened if it was loading then) it is killed, which its exit's code (none) counts as a failure.
   */
  #kill(worker: Worker, since: string): void {
    const seconds = this.#killAfterMs / 1000;
    this.#out.line(this.#out.style('red', `coda: worker ${worker.process.pid} has not exited ${seconds} s after ${since} (its event loop blocked, or the process stopped); killing it`));
    worker.process.kill('SIGKILL');
  }
}

/**
 * One worker of the cluster: serves the app on the shared port, tells the
 * primary, and shuts down gracefully on the primary's word as on a signal
 * (once: a signal that reached it first, as Ctrl-C reaches the whole process
 * group, is not doubled into an immediate exit, nor the group's copy that
 * reaches it after the word: see group-signal.ts), and so when the primary
 * dies. All are heard from the start: one that comes while the app loads (a
 * deploy stopping the cluster as it starts) is held, as by a single process,
 * and the shutdown runs once the worker serves; the primary's word was lost
 * then, and the primary waited for the worker for good. A worker listens
 * through its primary: one whose primary dies before it listened never
 * serves, and ends (see endUnserved).
 */
export async function runClusterWorker(settings: ClusterSettings, progress: Output): Promise<void> {
  joinClusterMetrics();
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (signalled = true));
  // SIGHUP is the primary's (a rolling restart). A closed terminal sends it to the whole process group,
  // and its default would kill this worker outright, its requests in flight cut: the primary replaces it gracefully.
  process.on('SIGHUP', () => {});
  /** Shuts down as on SIGTERM, once; `signal`: the one the primary's word came with, whose process group's copy may follow. */
  const shutDown = (signal?: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    if (signal !== undefined) expectGroupCopy(signal);
    // Now, not through the OS: the group's copy may be on its way there already, and would be taken first, then this one for a second signal.
    process.emit('SIGTERM', 'SIGTERM');
  };
  process.on('message', (message: Message) => {
    if (message?.coda === 'shutdown') {
      shutDown(message.signal);
    } else if (message?.coda === 'now') {
      forgetGroupCopy();
      process.emit(message.signal, message.signal);
    }
  });
  // The primary gone (SIGKILL, the OOM killer) closes the channel, and node:cluster then exits the worker at once, with code 0:
  // its requests in flight were cut and their after() tasks dropped without a word. Without a primary it can be neither
  // replaced nor told to stop, so it drains as on SIGTERM (or goes on draining) and exits. Marking the exit as expected is
  // what stops node:cluster's, which reads the mark right after this event.
  const worker = cluster.worker!;
  let app: App | undefined;
  let listening = false;
  /** Set once the primary is gone while the app loads: the worker gives up on an app still loading a timeout later. */
  let orphaned: NodeJS.Timeout | undefined;
  const { shutdownTimeoutMs } = settings;
  worker.once('disconnect', () => {
    worker.exitedAfterDisconnect = true;
    if (!listening) {
      // A held signal's graceful shutdown would wait for a listen that cannot complete, and exit 1 at its timeout, no hook run.
      process.stderr.write(`coda: worker ${process.pid}: the primary is gone before this worker listened, and a cluster worker listens through it: it will not serve; ending${app === undefined ? ' once the app has loaded' : ''}\n`);
      if (app !== undefined) return void endUnserved(app, shutdownTimeoutMs);
      orphaned = setTimeout(() => {
        process.stderr.write(`coda: worker ${process.pid}: still loading the app ${shutdownTimeoutMs} ms after the primary went: exiting\n`);
        process.exit(1);
      }, shutdownTimeoutMs);
      return;
    }
    process.stderr.write(`coda: worker ${process.pid}: the primary is gone; ${signalled ? 'going on draining' : 'shutting down gracefully'}\n`);
    shutDown();
  });
  const started = holdStartupSignals(progress, shutdownTimeoutMs, ['SIGTERM', 'SIGINT']);
  app = await loadApp(settings.module);
  if (orphaned !== undefined) {
    clearTimeout(orphaned);
    return endUnserved(app, shutdownTimeoutMs);
  }
  const server = await listen(app, settings);
  listening = true;
  process.send!({ coda: 'listening', url: server.url } satisfies Message);
  started();
}

/**
 * Ends a worker that never served: the app's shutdown (a store that serve()
 * opened as it began to listen is closed), its `onShutdown` hooks within
 * `timeoutMs`, then the exit, code 1 if a hook failed.
 */
async function endUnserved(app: App, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  await app[kShutDown](deadline);
  const { failed } = await runHooks(deadline, app.logger);
  exitAfterLastLines(app.logger, failed > 0 ? 1 : 0, deadline - performance.now());
}

function describeExit(code: number | null, signal: string | null): string {
  return signal === null ? `exit code ${code}` : `signal ${signal}`;
}
