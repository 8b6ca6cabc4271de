import type { Logger } from './logger.js';

/** How often, at most, an outage's refusals are summed up in one line. */
const SUMMARY_INTERVAL_MS = 10_000;

/**
 * Logs an outage (a task store that refuses writes, say) in a few lines rather
 * than one per refused call: the first failure at error level with its error,
 * then at most one line per interval counting the refusals since the last
 * line, and one line when a call succeeds again. Summaries are written when a
 * refusal comes after the interval, not by a timer: a quiet outage's count
 * goes into the recovery line.
 */
export class OutageLog {
  readonly #logger: Logger;
  /** What is refused, as the lines name it: "durable tasks for the sqlite store var/tasks.db". */
  readonly #what: string;
  readonly #now: () => number;
  readonly #intervalMs: number;
  /** When the outage began (undefined: none); when the last line was written; refusals since; in all. */
  #since: number | undefined = undefined;
  #lastLine = 0;
  #unreported = 0;
  #total = 0;

  constructor(logger: Logger, what: string, now: () => number = performance.now.bind(performance), intervalMs = SUMMARY_INTERVAL_MS) {
    this.#logger = logger;
    this.#what = what;
    this.#now = now;
    this.#intervalMs = intervalMs;
  }

  /** `count` calls were refused with `error`. */
  failed(error: unknown, count = 1): void {
    const now = this.#now();
    this.#total += count;
    if (this.#since === undefined) {
      this.#since = this.#lastLine = now;
      this.#logger.error({ err: error, refused: count }, `${this.#what} refused: ${messageOf(error)}; further refusals are counted, one line per ${this.#intervalMs / 1000} s at most`);
      return;
    }
    this.#unreported += count;
    if (now - this.#lastLine < this.#intervalMs) return;
    this.#logger.error({ err: error, refused: this.#unreported }, `${this.#what} still refused: ${this.#unreported} more in the last ${seconds(now - this.#lastLine)} s (${messageOf(error)})`);
    this.#lastLine = now;
    this.#unreported = 0;
  }

  /** A call succeeded: ends the outage, if there is one, in one line. */
  succeeded(): void {
    if (this.#since === undefined) return;
    const unreported = this.#unreported === 0 ? '' : `, ${this.#unreported} of them since the last line`;
    this.#logger.warn({ refused: this.#total }, `${this.#what} accepted again after ${seconds(this.#now() - this.#since)} s: ${this.#total} refused in all${unreported}`);
    this.#since = undefined;
    this.#unreported = this.#total = 0;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
