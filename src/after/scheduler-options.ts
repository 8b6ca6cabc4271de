import { describe } from '../util/describe.js';
import { checkWorkFunction } from '../util/work-function.js';
import { checkCount, checkKeys, checkMs } from '../util/options.js';
import type { TaskFailure } from './reporting.js';

/** `after` in `createApp()`: how the after-response scheduler runs tasks. */
export interface SchedulerOptions {
  /**
   * Async tasks running at once (a response's async tasks may overlap when this
   * is above 1). Default 1024. It bounds throughput: with tasks of 50 ms, 1024
   * slots run at most 20,480 tasks a second; past that the queue grows to
   * `maxPending` and admission control starts.
   */
  concurrency?: number;
  /**
   * Tasks accepted and not started yet before admission control starts.
   * Default 10,000. A response's own tasks are accepted with it; `after()`
   * past this bound is refused (`'reject'`) or dropped (`'drop'`).
   */
  maxPending?: number;
  /** Admission resumes once pending tasks fall to this. Default 80% of `maxPending`. */
  lowWater?: number;
  /**
   * A task still running after this long is aborted (its signal). Default
   * 30,000 ms. Synchronous code is never interrupted: a task that blocks the
   * event loop past it runs to its end and is reported as it ends.
   */
  timeoutMs?: number;
  /**
   * What happens at `maxPending`: `'reject'` (default) answers new requests
   * with 503 and Retry-After, keeps every accepted task, and makes `after()`
   * throw `AfterQueueFull`; `'drop'` keeps admitting requests and drops the
   * new tasks, counted and logged.
   */
  overflow?: 'reject' | 'drop';
  /** Told about every task that throws, rejects or times out (an async reporter's rejection is logged). Default: one error log line. */
  onError?: (failure: TaskFailure) => unknown;
}

/** The options with their defaults, checked. */
export interface SchedulerSettings {
  concurrency: number;
  maxPending: number;
  lowWater: number;
  timeoutMs: number;
  overflow: 'reject' | 'drop';
  onError: ((failure: TaskFailure) => unknown) | undefined;
}

const KEYS = ['concurrency', 'maxPending', 'lowWater', 'timeoutMs', 'overflow', 'onError'];

/** `after`'s options checked (a TypeError or RangeError naming the option), with their defaults. */
export function schedulerSettings(options: SchedulerOptions): SchedulerSettings {
  checkKeys('createApp() after', options, KEYS);
  const maxPending = checkCount('after.maxPending', options.maxPending ?? 10_000);
  const lowWater = options.lowWater ?? Math.floor(maxPending * 0.8);
  if (typeof lowWater !== 'number' || !Number.isSafeInteger(lowWater) || lowWater < 0 || lowWater >= maxPending) {
    throw new RangeError(`after.lowWater must be a whole number from 0 to below after.maxPending (${maxPending}), got ${String(lowWater)}`);
  }
  const overflow = options.overflow ?? 'reject';
  if (overflow !== 'reject' && overflow !== 'drop') {
    throw new TypeError(`after.overflow must be 'reject' or 'drop', got ${JSON.stringify(overflow)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError(`after.onError must be a function, got ${describe(options.onError)}`);
  }
  if (options.onError !== undefined) checkWorkFunction('after.onError', options.onError);
  return {
    concurrency: checkCount('after.concurrency', options.concurrency ?? 1024),
    maxPending,
    lowWater,
    timeoutMs: checkMs('after.timeoutMs', options.timeoutMs ?? 30_000),
    overflow,
    onError: options.onError,
  };
}
