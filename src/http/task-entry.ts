import { isWhen, type When } from './when.js';
import { currentRequest } from '../util/current-request.js';
import { describe } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import { payloadJson } from '../util/json-payload.js';
import { checkKeys, checkMs } from '../util/options.js';

/** A durable task as a response sees it (`task()` builds one): its name, and the function whose payload type it carries. */
export interface DurableTask<Payload> {
  readonly name: string;
  readonly run: (payload: Payload, context: never) => unknown;
}

/** How a durable task registered in a request runs. */
export interface TaskAfterOptions {
  /** As for after-response tasks, judged on the recorded outcome. Default `'always'`. */
  when?: When;
  /** At most one pending task per key: a second registration with it adds nothing and says `duplicate`. */
  key?: string;
  /**
   * Runs this long after the response is done (or, from `app.tasks.enqueue()`,
   * after it is journaled): at most a year (366 days). The store keeps the
   * time; no timer waits it out.
   */
  delayMs?: number;
}

/** What a durable registration did, once journaled. */
export interface TaskRegistration {
  /** The task's id (the pending task's, for a duplicate key): stable across attempts. */
  id: string;
  /** A pending task already had this key: nothing was added. */
  duplicate: boolean;
  /** Registered once the response was done, and its `when` did not allow the recorded outcome: nothing was added. */
  skipped?: boolean;
}

/** A durable task registered in a request: its payload already checked and turned to JSON. */
export interface TaskEntry {
  readonly task: DurableTask<unknown>;
  readonly payload: string;
  readonly options: TaskAfterOptions;
  /** The payload limit its JSON was measured against as it was serialized: none (Infinity) for a response's made outside any request. */
  readonly limit: number;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** A durable task's longest delay: a year, 366 days (BullMQ keeps a job's time in a sorted-set score, exact to 2^53 / 4096 ms). */
const MAX_DELAY_MS = 366 * 24 * 60 * 60_000;

/**
 * A durable task registered by user code, checked where it is registered:
 * the task, the options, and a payload that must survive JSON.
 */
export function taskEntry(where: string, task: DurableTask<unknown>, payload: unknown, options: TaskAfterOptions | undefined, limit = Number.POSITIVE_INFINITY): TaskEntry {
  if (task === null || typeof task !== 'object' || typeof task.name !== 'string' || typeof task.run !== 'function') {
    // Next.js's after() takes a promise too: say how Coda reads that. Any thenable: a query builder (Drizzle's, Prisma's) is one, not a Promise.
    const promise = isPromise(task) ? `; to keep a promise's work after the response, pass a function that returns it: ${where.replace(/\(\)$/, '')}(() => promise)` : '';
    throw new TypeError(`${where} takes a function or a task() and its payload, got ${describe(task)}${promise}`);
  }
  const checked = options ?? {};
  checkKeys(`${where} for task '${task.name}'`, checked, ['when', 'key', 'delayMs']);
  const { when, key, delayMs } = checked;
  if (when !== undefined && !isWhen(when)) throw new TypeError(`${where}: when must be 'always', 'completed' or 'success', got ${describe(when)}`);
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 500)) {
    // A long key told by its length: echoed whole, a megabyte's key made a megabyte's error (and log line).
    const got = typeof key === 'string' && key.length > 500 ? `a string of ${key.length} characters` : describe(key);
    throw new TypeError(`${where}: key must be a string of 1 to 500 characters, got ${got}`);
  }
  // A lone surrogate (a surrogate code point, read with /u) becomes U+FFFD in the store (UTF-8): two such keys would collide.
  if (key !== undefined && LONE_SURROGATE.test(key)) throw new TypeError(`${where}: key must be well-formed Unicode (no lone surrogate), got ${describe(key)}`);
  if (delayMs !== undefined) checkMs(`${where}: delayMs`, delayMs, { zero: true, max: MAX_DELAY_MS });
  return { task, payload: payloadJson(task.name, where, payload, routeNow, limit), options: checked, limit };
}

/** The method and route pattern of the request whose code runs now, for a refusal's message; none outside a request or before routing. */
function routeNow(): string | undefined {
  const request = (currentRequest() as { readonly request?: { readonly method: string; readonly route: string | undefined } } | undefined)?.request;
  return request?.route === undefined ? undefined : `${request.method} ${request.route}`;
}
