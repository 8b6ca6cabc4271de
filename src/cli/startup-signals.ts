import { isGroupCopy } from '../server/group-signal.js';
import type { Output } from './output.js';

/** What stops a process that is starting: a closed terminal's SIGHUP too, but in a cluster worker (the primary's, for a restart). */
const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/**
 * Holds the signals that come while a command loads its app and starts (a
 * deploy that stops a process as it starts, Ctrl-C during a slow import):
 * Node's default would kill the process outright, with no word, and the
 * app's `onShutdown` hooks (a pool opened as it loaded) would never run.
 * Returns the function to call once the command handles signals itself: a
 * signal held is raised again then, to the command's listeners, and the
 * graceful shutdown runs. A second signal (but a cluster worker's process
 * group's copy of its primary's, see group-signal.ts), or the app still
 * starting `timeoutMs` after the first, exits 1 at once, saying so.
 */
export function holdStartupSignals(progress: Output, timeoutMs: number, signals = SIGNALS): () => void {
  let held: NodeJS.Signals | undefined;
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (held !== undefined) {
      if (isGroupCopy(signal)) {
        progress.line(`coda: ${signal}, the process group's copy of the signal the primary's word came with: held already, not a second signal`);
        return;
      }
      progress.line(`coda: ${signal} again while starting: exiting at once`);
      process.exit(1);
    }
    held = signal;
    progress.line(`coda: ${signal} while starting: shutting down once started (within ${timeoutMs} ms; a second signal exits at once)`);
    timer = setTimeout(() => {
      progress.line(`coda: still starting ${timeoutMs} ms after ${signal}: exiting`);
      process.exit(1);
    }, timeoutMs);
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
    clearTimeout(timer);
    // Now, not through the OS: the process group's copy of a signal (see group-signal.ts) may be on its way there already, and would be taken first.
    if (held !== undefined) {
      if (process.listenerCount(held) > 0) process.emit(held, held);
      else process.kill(process.pid, held);
    }
  };
}
