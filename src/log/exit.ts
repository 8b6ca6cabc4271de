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

/**
 * Exits with `code` once `logger`'s destination has written its last lines,
 * or after `withinMs` (at least half a second) whatever stdout does. pino
 * writes asynchronously, and as the process exits writes what it still holds
 * synchronously: to a pipe nobody reads (a stalled log shipper) that write
 * blocks for good, and once the reader is gone it retries EPIPE for good; the
 * process never exits, and only SIGKILL ends it. Ended first, the destination
 * writes while the event loop runs; what it could not write in time is
 * dropped (destroyed, it is skipped at exit). A logger of another kind: the
 * process exits at once.
 */
export function exitAfterLastLines(logger: Logger, code: number, withinMs = 0): void {
  const destination = destinationOf(logger);
  if (destination === undefined) process.exit(code);
  const exit = (): never => {
    // A line logged from here on (an 'exit' listener's) is dropped, as pino drops them once stdout's reader is gone: written to the destination ended, it would throw.
    destination.write = () => true;
    return process.exit(code);
  };
  destination.once('close', exit);
  // EPIPE: the reader is gone, nothing more will be written.
  destination.once('error', exit);
  setTimeout(() => {
    destination.destroy();
    exit();
  }, Math.max(withinMs, LAST_LINES_MS));
  destination.end();
}

/**
 * The logger's destination, unless it has nothing to wait for: destroyed, or
 * given up by pino on EPIPE (the reader gone), which puts no-ops in place of
 * its methods, `end()` and the exit flush among them.
 */
function destinationOf(logger: Logger): Destination | undefined {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Partial<Destination> | undefined;
  if (stream === undefined || stream.destroyed === true || typeof stream.once !== 'function' || typeof stream.destroy !== 'function') return undefined;
  const { end } = stream;
  return typeof end === 'function' && !Object.hasOwn(stream, 'end') ? (stream as Destination) : undefined;
}
