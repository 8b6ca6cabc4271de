import { keepsKey } from './key-rule.js';
import { outcomeJson, storedOutcome } from './outcome-json.js';
import { roomOf, take } from './sqlite-claiming.js';
import { rowsOf } from './sqlite-rows.js';
import { changed, type Statements } from './sqlite-statements.js';
import type { NewTask, Release, Released, ReleaseClaim, StoredTask } from './store.js';

/**
 * A release (see SqliteStore.release()), in the transaction of `s`: the holds not to run removed, those to run whose
 * key is kept already removed too (releaseCovered()), the claim's taken from held to running (claimReleased()), the
 * rest made ready. `held` is what this store knows of each release's task, by position.
 */
export function releaseHeld(s: Statements, releases: readonly Release[], held: readonly (HeldTask | undefined)[], owner: string, claim: ReleaseClaim | undefined): Released {
  const skipped = releases.filter(({ run }) => !run);
  let toRun = skipped.length === 0 ? releases : releases.filter(({ run }) => run);
  if (skipped.length > 0) s.releaseSkipped.run(JSON.stringify(skipped.map(({ id }) => id)), owner);
  const covered = releaseCovered(s, releases, held, owner);
  if (covered !== undefined) toRun = toRun.filter(({ id }) => !covered.has(id));
  const claimed = claim === undefined ? [] : claimReleased(s, releases, held, owner, claim, covered);
  if (claimed.length === toRun.length) return { ready: [], claimed };
  const taken = new Set(claimed.map(({ id }) => id));
  const rest = toRun.filter(({ id }) => !taken.has(id));
  const ready = new Set(rowsOf(s.releaseToRun.all(releaseRows(rest), owner)).map((row) => row[0]));
  return { ready: rest.filter(({ id }) => ready.has(id)).map(({ id }) => id), claimed };
}

/**
 * Removes the holds released to run that keep no key (keepsKey()) and whose
 * key another pending task keeps by now, or an earlier of them (its run
 * covers theirs). Only holds that may be covered are looked at: those with a
 * key that keep none, and those this store does not know (a release written
 * again). Returns their ids, or undefined when none was removed.
 */
function releaseCovered(s: Statements, releases: readonly Release[], held: readonly (HeldTask | undefined)[], owner: string): ReadonlySet<string> | undefined {
  const uncertain: string[] = [];
  releases.forEach(({ id, run }, i) => {
    const known = held[i];
    if (run && (known === undefined || (known.task.key !== null && !keepsKey(known.task)))) uncertain.push(id);
  });
  if (uncertain.length === 0) return undefined;
  const covered = rowsOf(s.releaseCovered.all(JSON.stringify(uncertain), owner)).map((row) => row[0] as string);
  return covered.length === 0 ? undefined : new Set(covered);
}

/**
 * The claim a release carries: its tasks due by `now` that this store added
 * (`held`, by the releases' positions), in the order of the releases, up to
 * `limit`, within each name's room, from held to running. Each is updated by
 * id with its own parameters (a batch statement reading each release's
 * outcome out of JSON cost more: bench/durable-results.md) and returned as
 * the claim sets it, built from the task as added: no row is read back.
 */
function claimReleased(
  s: Statements, releases: readonly Release[], held: readonly (HeldTask | undefined)[], owner: string, claim: ReleaseClaim, covered: ReadonlySet<string> | undefined,
): StoredTask[] {
  const { names, concurrency, limit, now, leaseUntil } = claim;
  if (limit === 0 || names.length === 0) return [];
  const room = roomOf(s, names, concurrency);
  const claimed: StoredTask[] = [];
  releases.forEach(({ id, run, runAt, outcome }, i) => {
    const known = held[i];
    if (!run || runAt > now || claimed.length === limit || known === undefined || known.owner !== owner || covered?.has(id) || !take(room, known.task.name)) return;
    const kept = storedOutcome(outcome);
    // Not updated (recovered by another process since): not claimed, and the release leaves it alone too.
    if (!changed(s.heldToRunning.run(runAt, JSON.stringify(kept), leaseUntil, now, id, owner))) return;
    const { task, createdAt } = known;
    claimed.push({
      id, name: task.name, payload: task.payload, state: 'running', key: task.key, when: task.when, attempt: 1, maxAttempts: task.maxAttempts,
      backoff: { ...task.backoff }, timeoutMs: task.timeoutMs, runAt, owner, leaseUntil, createdAt, startedAt: now, finishedAt: null,
      request: task.request, outcome: kept, trace: task.trace, errors: [],
    });
  });
  return claimed;
}

/** Releases as the JSON array the statements read (RELEASES): `[id, runAt, outcome]`, the outcome's JSON written in place. */
function releaseRows(releases: readonly Release[]): string {
  return `[${releases.map(({ id, runAt, outcome }) => `[${JSON.stringify(id)},${JSON.stringify(runAt)},${outcomeJson(outcome)}]`).join(',')}]`;
}

/** A held task as this store added it, and to whom. */
export interface HeldTask {
  task: NewTask;
  owner: string;
  createdAt: number;
}

/** At most this many held tasks are known (SqliteStore's #held): far more than any process holds at once. */
export const MAX_HELD = 100_000;
