import { pino } from 'pino';
import type { Logger } from './logger.js';

/** The least time the last lines are given, even past the shutdown's deadline: the report is one of them. */
const LAST_LINES_MS = 500;

/** A pino destination that can be ended: SonicBoom (pino's default, `pino.destination()`), a transport's thread stream. */
interface Destination {
  end(): void;
  destroy(): void;
  write(line: string): boolean;
  once(event: 'close' | 'error', listener: () => void): unknown;
  destroyed?: boolean;
}

/** The code of the exit under way, once a call is waiting for the last lines. */
let exiting: number | undefined;

/**
 * Exits with `code` once every distinct destination of `loggers` has written
 * its last lines, or after `withinMs` (at least half a second) whatever stdout
 * does. pino writes asynchronously, and as the process exits writes what it
 * still holds synchronously: to a pipe nobody reads (a stalled log shipper)
 * that write blocks for good, and once the reader is gone it retries EPIPE for
 * good; the process never exits, and only SIGKILL ends it. Each one left out
 * (two apps, each its own pino on fd 1) would do so. Ended first, a
 * destination writes while the event loop runs; what it could not write in
 * time is dropped (destroyed, it is skipped at exit). No destination to wait
 * for (loggers of another kind): the process exits at once. Called again
 * while it waits: see below.
 */
export function exitAfterLastLines(loggers: Logger | readonly Logger[], code: number, withinMs = 0): void {
  const destinations = new Set(([] as Logger[]).concat(loggers).map(destinationOf).filter((d) => d !== undefined));
  if (destinations.size === 0) process.exit(code);
  if (exiting !== undefined) {
    // Called again: the exit under way ends the process, unless this one is a failure that one is not (a second signal after a clean drain): at once, what is left dropped (the exit's synchronous flush would block).
    if (code === 0 || exiting !== 0) return;
    for (const destination of destinations) destination.destroy();
    process.exit(code);
  }
  exiting = code;
  let open = destinations.size;
  const closed = (): void => {
    if (--open === 0) process.exit(code);
  };
  for (const destination of destinations) {
    // A line logged from here on (a second signal's, an 'exit' listener's) is dropped, as pino drops them once stdout's reader is gone: written to the destination ended, it would throw.
    destination.write = () => true;
    // 'close' or EPIPE ('error': the reader is gone, nothing more will be written), whichever comes first.
    let done = false;
    const once = (): void => {
      if (!done) closed();
      done = true;
    };
    destination.once('close', once);
    destination.once('error', once);
  }
  setTimeout(() => {
    for (const destination of destinations) destination.destroy();
    process.exit(code);
  }, Math.max(withinMs, LAST_LINES_MS));
  for (const destination of destinations) destination.end();
}

/**
 * The logger's destination, unless it has nothing to wait for: destroyed, or
 * given up by pino on EPIPE (the reader gone), which puts no-ops in place of
 * its methods, `end()` and the exit flush among them.
 */
function destinationOf(logger: Logger): Destination | undefined {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Partial<Destination> | undefined;
  if (stream === undefined || stream.destroyed === true || typeof stream.once !== 'function' || typeof stream.destroy !== 'function') return undefined;
  return typeof stream.end === 'function' && !Object.hasOwn(stream, 'end') ? (stream as Destination) : undefined;
}
