import { retryDelay } from './backoff.js';
import type { Statements } from './sqlite-statements.js';
import { unreadableRow, type StalledJson } from './sqlite-unreadable.js';
import type { AttemptError, Backoff, Recovered } from './store.js';

/** A task failed for good, its row unreadable, as recover() reports it. */
export type Unreadable = NonNullable<Recovered['unreadable']>[number];

/** A running task's row, as far as failing it for good needs. */
export interface RunningRow extends StalledJson {
  owner: string;
  attempt: number;
  started_at: number | null;
}

interface StalledRow extends RunningRow {
  max_attempts: number;
  lease_until: number;
}

/**
 * One recovery at `now`, in the transaction of `s` (see SqliteStore.recover()): lapsed holds made ready, stalled
 * tasks failed by their backoff. `unreadable` holds those a claim failed for good since the last recovery; this
 * one's are added to it.
 */
export function recoverLapsed(s: Statements, now: number, random: () => number, unreadable: Unreadable[], description: string): Recovered {
  s.recoverCovered.run(now);
  const held = Number(s.recoverHeld.run(now).changes);
  const stalled = s.stalled.all(now) as unknown as StalledRow[];
  let running = 0;
  for (const task of stalled) {
    const message = `stalled: ${task.owner} stopped renewing its lease, which ended at ${new Date(task.lease_until).toISOString()} (its process died or hung)`;
    // Every column is looked at first, a hand-edited one failing the task for good (repaired, saying why): its
    // backoff read as null stopped every recovery, its errors read as {} lost this attempt's error.
    const failed = failUnreadable(s, task, message, now, description);
    if (failed !== undefined) {
      unreadable.push(failed);
      continue;
    }
    const error: AttemptError = { attempt: task.attempt, message, startedAt: task.started_at, finishedAt: now };
    const retryAt = task.attempt < task.max_attempts ? now + retryDelay(JSON.parse(task.backoff) as Backoff, task.attempt, random) : null;
    s.fail.run(JSON.stringify(error), retryAt, now, task.id, task.owner);
    running++;
  }
  // Those failed for good as unreadable are told apart: the runner logs them as errors, not as recovered.
  return unreadable.length === 0 ? { held, running } : { held, running, unreadable };
}

/**
 * Fails for good the running task of `row` when one of its JSON columns does not read, its attempt's error `message`
 * followed by the reason (see sqlite-unreadable.ts), which it returns, to be logged; undefined when each reads.
 */
export function failUnreadable(s: Statements, row: RunningRow, message: string, now: number, description: string): Unreadable | undefined {
  const failed = unreadableRow(row, { attempt: row.attempt, message, startedAt: row.started_at, finishedAt: now }, description);
  if (failed === undefined) return undefined;
  s.failUnreadable.run(failed.backoff, failed.errors, failed.request, failed.trace, failed.outcome, now, row.id, row.owner);
  return { id: row.id, reason: failed.reason };
}
