import { errorMessage } from '../util/describe.js';
import { causeSaidOnce } from './cause-once.js';
import type { Logger } from './logger.js';

/** What an outage's lines are written with. */
type Lines = Pick<Logger, 'error' | 'warn'>;

/** The errors outages have counted: their lines report them (see reportedInOutage()). */
const counted = new WeakSet<object>();

/**
 * Whether an OutageLog counted `error` among an outage's refusals: a request
 * that fails with it (a view that awaits its `after()` and lets the
 * store's refusal through) logs it at debug only, as its 503 is; logged at
 * error, such a view wrote a line per refused request.
 */
export function reportedInOutage(error: unknown): boolean {
  return typeof error === 'object' && error !== null && counted.has(error);
}

/** How often, at most, an outage's refusals are summed up in one line. */
const SUMMARY_INTERVAL_MS = 10_000;

/**
 * Logs an outage (a task store that refuses writes, say) in a few lines rather
 * than one per refused call: the first failure at error level with its error,
 * then at most one line per interval counting the refusals since the last
 * line, and one line when a call succeeds again. Summaries are written when a
 * refusal comes after the interval, not by a timer: a quiet outage's count
 * goes into the recovery line.
 *
 * A store that flaps (Redis out of memory: one call refused, the next taken)
 * is one outage, not many: a refusal within an interval of the recovery line
 * takes the outage up again without a new first line; its summaries count
 * the times calls were accepted and refused again, and its recovery line
 * waits until it has refused nothing for an interval. Each flip was two
 * lines, several times a second.
 */
export class OutageLog {
  readonly #logger: Lines;
  /** What is refused, as the lines name it: "durable task calls to the sqlite store var/tasks.db". */
  readonly #what: string;
  readonly #now: () => number;
  readonly #intervalMs: number;
  /** `down`: calls refused; `up`: a flapping outage's calls accepted, its recovery line not yet written; `ok`: no outage. */
  #state: 'ok' | 'down' | 'up' = 'ok';
  /** When the outage began (kept past its end: a refusal soon after takes it up again); when the last line was written. */
  #since = 0;
  #lastLine = Number.NEGATIVE_INFINITY;
  /** When the last recovery line was written. */
  #endedAt = Number.NEGATIVE_INFINITY;
  /** Refusals since the last line; in all. */
  #unreported = 0;
  #total = 0;
  /** Whether the outage flapped (accepted, then refused again); how many times since the last line; since when calls succeed. */
  #flapped = false;
  #flips = 0;
  #upSince = 0;
  /** The callers refused since their last accepted call: the outage ends once none is. */
  readonly #refusing = new Set<string>();

  constructor(logger: Lines, what: string, now: () => number = performance.now.bind(performance), intervalMs = SUMMARY_INTERVAL_MS) {
    this.#logger = logger;
    this.#what = what;
    this.#now = now;
    this.#intervalMs = intervalMs;
  }

  /**
   * `count` calls were refused with `error`. `caller`: who made them, when
   * several share the log (a process's registrations and its runner): see
   * succeeded().
   */
  failed(error: unknown, count = 1, caller = ''): void {
    if (typeof error === 'object' && error !== null) counted.add(error);
    this.#refusing.add(caller);
    const now = this.#now();
    if (this.#state === 'ok' && now - this.#endedAt >= this.#intervalMs) {
      this.#state = 'down';
      this.#since = this.#lastLine = now;
      this.#total = count;
      this.#unreported = this.#flips = 0;
      this.#flapped = false;
      this.#logger.error({ err: causeSaidOnce(error), refused: count }, `${this.#what} refused: ${reasonOf(error)}; further refusals are counted, one line per ${this.#intervalMs / 1000} s at most`);
      return;
    }
    if (this.#state !== 'down') {
      this.#state = 'down';
      this.#flapped = true;
      this.#flips++;
    }
    this.#total += count;
    this.#unreported += count;
    if (now - this.#lastLine < this.#intervalMs) return;
    const flips = this.#flips === 0 ? '' : `, accepted and refused again ${this.#flips} times`;
    this.#logger.error({ err: causeSaidOnce(error), refused: this.#unreported }, `${this.#what} still refused: ${this.#unreported} more in the last ${seconds(now - this.#lastLine)} s${flips} (${reasonOf(error)})`);
    this.#lastLine = now;
    this.#unreported = this.#flips = 0;
  }

  /**
   * A call of `caller`'s succeeded: ends the outage, if there is one, in one
   * line (if it flapped, once it has refused nothing for an interval), unless
   * another caller's calls are still refused: a full disk or Redis out of
   * memory takes a claim that writes nothing and refuses every registration,
   * and the claim ended the outage at once, taken up again as flapping.
   */
  succeeded(caller = ''): void {
    if (this.#state === 'ok') return;
    this.#refusing.delete(caller);
    if (this.#refusing.size > 0) return;
    const now = this.#now();
    if (this.#state === 'down') this.#upSince = now;
    // A flapping store is back once it has refused nothing for an interval.
    if (this.#flapped && now - this.#upSince < this.#intervalMs) {
      this.#state = 'up';
      return;
    }
    const unreported = this.#unreported === 0 ? '' : `, ${this.#unreported} of them since the last line`;
    const flips = this.#flips === 0 ? '' : `, accepted and refused again ${this.#flips} times since the last line`;
    this.#logger.warn({ refused: this.#total }, `${this.#what} accepted again after ${seconds(now - this.#since)} s: ${this.#total} refused in all${unreported}${flips}`);
    this.#state = 'ok';
    this.#endedAt = this.#lastLine = now;
    this.#unreported = this.#flips = 0;
  }
}

/**
 * What a line says of `error`: its `reason` when it has one (a StoreUnavailable's, which leaves out the store that the
 * line's own subject names: "… calls to the sqlite store X refused: sqlite store X is unavailable: …" said it twice),
 * else its message. The error itself is logged whole.
 */
function reasonOf(error: unknown): string {
  const reason = (error as { reason?: unknown } | null)?.reason;
  return typeof reason === 'string' ? reason : errorMessage(error);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
