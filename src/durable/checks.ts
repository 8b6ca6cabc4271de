import { checkBoolean, checkCount, checkMs } from '../util/options.js';
import { describe } from '../util/describe.js';
import { isWhen, WHENS } from '../http/when.js';
import type { AttemptError, ListFilter, NewTask, Release, ReleaseClaim, TaskState } from './store.js';

// What every store checks before it writes, so that a bad row is refused
// with a message that names it, and the batch it came in adds nothing.

export const TASK_STATES: readonly TaskState[] = ['held', 'ready', 'running', 'completed', 'failed'];

/** Refuses a batch with a task that no store should keep; names the task and the field. */
export function checkNewTasks(tasks: readonly NewTask[]): void {
  if (!Array.isArray(tasks)) throw new TypeError(`add() takes an array of tasks, got ${describe(tasks)}`);
  tasks.forEach(checkNewTask);
}

function checkNewTask(task: NewTask, index: number): void {
  const where = `add(): task ${index}${typeof task?.name === 'string' ? ` (${task.name})` : ''}`;
  if (task === null || typeof task !== 'object') throw new TypeError(`${where} must be an object, got ${describe(task)}`);
  text(where, 'id', task.id);
  text(where, 'name', task.name);
  if (typeof task.payload !== 'string') throw new TypeError(`${where}: payload must be JSON text, got ${describe(task.payload)}`);
  if (task.key !== null) text(where, 'key', task.key);
  if (!isWhen(task.when)) throw new TypeError(`${where}: when must be one of ${WHENS.join(', ')}, got ${describe(task.when)}`);
  checkCount(`${where}: maxAttempts`, task.maxAttempts);
  checkMs(`${where}: timeoutMs`, task.timeoutMs);
  const backoff = task.backoff;
  if (backoff === null || typeof backoff !== 'object' || (backoff.type !== 'fixed' && backoff.type !== 'exponential')) {
    throw new TypeError(`${where}: backoff must be { type: 'fixed' | 'exponential', delayMs }, got ${describe(backoff)}`);
  }
  checkMs(`${where}: backoff.delayMs`, backoff.delayMs, { zero: true });
  if (backoff.maxDelayMs !== undefined) checkMs(`${where}: backoff.maxDelayMs`, backoff.maxDelayMs, { zero: true });
  if (backoff.jitter !== undefined && !(backoff.jitter >= 0 && backoff.jitter <= 1)) {
    throw new RangeError(`${where}: backoff.jitter must be a fraction from 0 to 1, got ${describe(backoff.jitter)}`);
  }
  checkBoolean(`${where}: held`, task.held);
  checkTime(`${where}: runAt`, task.runAt);
  if (task.request !== null && (typeof task.request !== 'object' || typeof task.request.id !== 'string')) {
    throw new TypeError(`${where}: request must be a request snapshot or null, got ${describe(task.request)}`);
  }
  if (task.trace !== null && (typeof task.trace !== 'object' || Object.values(task.trace).some((value) => typeof value !== 'string'))) {
    throw new TypeError(`${where}: trace must be an object of strings or null, got ${describe(task.trace)}`);
  }
}

function text(where: string, field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${where}: ${field} must be a non-empty string, got ${describe(value)}`);
}

/** An epoch time in milliseconds. */
export function checkTime(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`${what} must be a time in epoch milliseconds, got ${describe(value)}`);
  return value;
}

/** The filter with its default limit, or a clear error. */
export function checkListFilter(filter: ListFilter): Required<Pick<ListFilter, 'limit'>> & ListFilter {
  if (filter === null || typeof filter !== 'object') throw new TypeError(`list() takes a filter object, got ${describe(filter)}`);
  if (filter.state !== undefined && !TASK_STATES.includes(filter.state)) {
    throw new TypeError(`list(): state must be one of ${TASK_STATES.join(', ')}, got ${describe(filter.state)}`);
  }
  if (filter.name !== undefined && typeof filter.name !== 'string') throw new TypeError(`list(): name must be a string, got ${describe(filter.name)}`);
  if (filter.after !== undefined && (typeof filter.after !== 'string' || filter.after === '')) throw new TypeError(`list(): after must be a page's next cursor, got ${describe(filter.after)}`);
  return { ...filter, limit: filter.limit === undefined ? 100 : checkCount('list(): limit', filter.limit) };
}

/** Refuses releases a store could misread: a missing `run` must not remove a task. */
export function checkReleases(releases: readonly Release[]): void {
  if (!Array.isArray(releases)) throw new TypeError(`release() takes an array of releases, got ${describe(releases)}`);
  for (const release of releases) {
    const where = `release(): task ${describe(release?.id)}`;
    if (typeof release?.id !== 'string') throw new TypeError(`${where}: id must be a string`);
    checkBoolean(`${where}: run`, release.run);
    if (release.outcome === null || typeof release.outcome !== 'object') throw new TypeError(`${where}: outcome must be an object, got ${describe(release.outcome)}`);
    checkTime(`${where}: runAt`, release.runAt);
  }
}

/** The error an attempt left, with the time a failed task is kept as finished. */
export function checkAttemptError(error: AttemptError): void {
  if (error === null || typeof error !== 'object' || typeof error.message !== 'string') {
    throw new TypeError(`fail(): error must be an AttemptError with a message, got ${describe(error)}`);
  }
  checkCount('fail(): error.attempt', error.attempt, 0);
  checkTime('fail(): error.finishedAt', error.finishedAt);
}

/** A claim's `limit` (0 claims nothing) and `concurrency` caps; `where` names the call ("claim()", "release(): claim"). */
export function checkClaim(limit: number, concurrency: Readonly<Record<string, number>>, where = 'claim()'): void {
  checkCount(`${where}: limit`, limit, 0);
  if (concurrency === null || typeof concurrency !== 'object') throw new TypeError(`${where}: concurrency must be an object, got ${describe(concurrency)}`);
  for (const [name, cap] of Object.entries(concurrency)) checkCount(`${where}: concurrency[${JSON.stringify(name)}]`, cap, 0);
}

/** The claim a release (or a completion) may carry, checked as `claim()` checks its request; `where` names it ("release(): claim"). */
export function checkReleaseClaim(claim: ReleaseClaim | undefined, where = 'release(): claim'): void {
  if (claim === undefined) return;
  if (claim === null || typeof claim !== 'object') throw new TypeError(`${where} must be an object or undefined, got ${describe(claim)}`);
  if (!Array.isArray(claim.names)) throw new TypeError(`${where}.names must be an array of task names, got ${describe(claim.names)}`);
  checkClaim(claim.limit, claim.concurrency, where);
  checkTime(`${where}.now`, claim.now);
  checkTime(`${where}.leaseUntil`, claim.leaseUntil);
}

/** The process a hold or claim belongs to. */
export function checkOwner(where: string, owner: unknown): void {
  if (typeof owner !== 'string' || owner === '') throw new TypeError(`${where}: owner must be a non-empty string, got ${describe(owner)}`);
}
