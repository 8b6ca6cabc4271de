import type { Logger } from 'pino';
import type { Outcome } from '../http/outcome.js';
import { brand } from '../util/brand.js';
import { describe } from '../util/describe.js';
import { checkWorkFunction } from '../util/work-function.js';
import { checkCount, checkKeys, checkMs } from '../util/options.js';
import type { Backoff, RequestSnapshot } from './store.js';

/** What a durable task's function receives besides its payload. */
export interface TaskContext {
  /** Stable across attempts: the idempotency key for side effects. */
  readonly id: string;
  readonly name: string;
  /** 1-based. */
  readonly attempt: number;
  /** Fires at the task's timeout, and at shutdown past its deadline. */
  readonly signal: AbortSignal;
  /** The app's logger, bound to the task's id and name, and the request id when a request caused it. */
  readonly log: Logger;
  /** The request that caused it, when one did (a snapshot: live objects cannot be journaled). */
  readonly request: RequestSnapshot | null;
  /** The response's outcome, once recorded; null outside a request, or when the process died before recording it. */
  readonly outcome: Outcome | null;
}

/** A durable task's work; a promise or thenable it returns is awaited, its value ignored. */
export type TaskFunction<Payload> = (payload: Payload, context: TaskContext) => void | PromiseLike<unknown>;

export interface TaskOptions {
  /** Attempts in all, the first included. Default 3. */
  attempts?: number;
  /** The wait between attempts. Default exponential from 1 s, capped at 1 h, with 20% jitter. */
  backoff?: Backoff;
  /** An attempt still running after this long is aborted and counts as failed. Default 30,000 ms. */
  timeoutMs?: number;
  /** Attempts of this task running at once, across every process on the store. Default: no limit of its own. */
  concurrency?: number;
}

/** The checked options, defaults applied. */
export interface TaskSettings {
  readonly attempts: number;
  readonly backoff: Backoff;
  readonly timeoutMs: number;
  readonly concurrency: number | undefined;
}

export const DEFAULT_BACKOFF: Backoff = Object.freeze({ type: 'exponential', delayMs: 1_000 });
export const DEFAULT_TIMEOUT_MS = 30_000;
const NAME = /^[\w.:@/-]{1,200}$/;

/**
 * A named task of a JSON payload: the durable form of after-response work
 * (see docs/durable.md). Build one with `task()`.
 */
export class Task<Payload = unknown> {
  readonly name: string;
  readonly run: TaskFunction<Payload>;
  readonly settings: TaskSettings;

  constructor(name: string, run: TaskFunction<Payload>, options: TaskOptions = {}) {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new TypeError(`task(): the name must be 1 to 200 letters, digits or _ . : @ / -, got ${describe(name)}`);
    }
    if (typeof run !== 'function') throw new TypeError(`task('${name}'): the task must be a function, got ${describe(run)}`);
    checkWorkFunction(`task('${name}')`, run);
    this.name = name;
    this.run = run;
    this.settings = taskSettings(name, options);
  }
}

function taskSettings(name: string, options: TaskOptions): TaskSettings {
  const where = `task('${name}')`;
  checkKeys(where, options, ['attempts', 'backoff', 'timeoutMs', 'concurrency']);
  return {
    attempts: checkCount(`${where}: attempts`, options.attempts ?? 3),
    backoff: checkBackoff(where, options.backoff ?? DEFAULT_BACKOFF),
    timeoutMs: checkMs(`${where}: timeoutMs`, options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    concurrency: options.concurrency === undefined ? undefined : checkCount(`${where}: concurrency`, options.concurrency),
  };
}

function checkBackoff(where: string, backoff: Backoff): Backoff {
  // BullMQ's backoff may be a number of milliseconds (a fixed delay): said so, where checkKeys would only ask for an object.
  if (typeof backoff === 'number') {
    throw new TypeError(`${where}: backoff takes { type: 'fixed' | 'exponential', delayMs }, got number ${backoff}; for a fixed ${backoff} ms between attempts (BullMQ's backoff: ${backoff}), pass { type: 'fixed', delayMs: ${backoff} }`);
  }
  // Laravel's backoff may be a list of waits, one per retry: said so, where checkKeys would only ask for an object.
  if (Array.isArray(backoff)) {
    throw new TypeError(`${where}: backoff takes { type: 'fixed' | 'exponential', delayMs, maxDelayMs? }, got a list of ${backoff.length}; a list of waits, one per retry (Laravel's backoff), is not taken: for waits that grow, pass { type: 'exponential', delayMs } with the first, and maxDelayMs for the last`);
  }
  checkKeys(`${where} backoff`, backoff, ['type', 'delayMs', 'maxDelayMs', 'jitter']);
  if (backoff.type !== 'fixed' && backoff.type !== 'exponential') {
    throw new TypeError(`${where}: backoff.type must be 'fixed' or 'exponential', got ${describe(backoff.type)}`);
  }
  checkMs(`${where}: backoff.delayMs`, backoff.delayMs, { zero: true });
  if (backoff.maxDelayMs !== undefined) checkMs(`${where}: backoff.maxDelayMs`, backoff.maxDelayMs);
  const { jitter } = backoff;
  if (jitter !== undefined && (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))) {
    throw new RangeError(`${where}: backoff.jitter must be a fraction from 0 to 1, got ${describe(jitter)}`);
  }
  return Object.freeze({ ...backoff });
}

/** Whether `value` (a stored row's backoff, which a hand edit may have made anything) is a backoff task() would take. */
export function isBackoff(value: unknown): value is Backoff {
  return takes(() => checkBackoff('backoff', value as Backoff));
}

/** Whether `value` (a stored job's timeout) is a timeout task() would take: 1500.5 is one. */
export function isTimeoutMs(value: unknown): value is number {
  return takes(() => checkMs('timeoutMs', value));
}

/** Whether `check` (task()'s own, as the stored value was written by it) passes. */
function takes(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

/**
 * Defines a durable task: a unique name and a function of a JSON payload.
 * Registered in a request (`after(sendWelcome, { userId })`), it is journaled
 * before the response's first byte, runs once the response is done, is retried
 * by its policy and recovered after a crash. A closure (`after(() => ...)`)
 * stays in memory instead.
 *
 * @example
 * ```ts
 * export const sendWelcome = task('send-welcome', async (payload: { userId: string }, ctx) => {
 *   await mailer.send(payload.userId, { signal: ctx.signal, idempotencyKey: ctx.id });
 * }, { attempts: 5, backoff: { type: 'exponential', delayMs: 1_000 } });
 * ```
 */
export function task<Payload>(name: string, run: TaskFunction<Payload>, options?: TaskOptions): Task<Payload> {
  return new Task(name, run, options);
}

/**
 * Thrown by a task, fails it at once: no further attempt.
 *
 * @example
 * ```ts
 * if (!user) throw new NonRetryableError(`user ${payload.userId} no longer exists`);
 * ```
 */
export class NonRetryableError extends Error {
  readonly code: string = 'CODA_NON_RETRYABLE';

  override get name(): string {
    return 'NonRetryableError';
  }
}

/**
 * Whether `value` is a NonRetryableError of any copy of coda-http, or carries
 * its brand (see brand()): told by `instanceof` alone, one made by another
 * copy was retried. `instanceof NonRetryableError` answers the same.
 */
export const isNonRetryable = brand(NonRetryableError, 'coda-http.NonRetryableError');
