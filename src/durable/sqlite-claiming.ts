import { failUnreadable, type Unreadable } from './sqlite-recovery.js';
import { rowsOf, SEQ, toTask } from './sqlite-rows.js';
import type { Statements } from './sqlite-statements.js';
import { jsonColumns } from './sqlite-unreadable.js';
import type { ClaimRequest, StoredTask } from './store.js';

/** A ready task whose time has come: seq, name, run_at. */
type DueRow = [number, string, number];

/**
 * A claim (see SqliteStore.claim()), in the transaction of `s`: the due tasks of the request's names (or of its ids),
 * oldest first, within each name's room, from ready to running. A row that does not read is failed for good and
 * added to `unreadable`, for the next recover() to report.
 */
export function claimDue(s: Statements, request: ClaimRequest, unreadable: Unreadable[], description: string): StoredTask[] {
  const { owner, names, concurrency, limit, now, leaseUntil, ids } = request;
  const room = roomOf(s, names, concurrency);
  let due: DueRow[];
  if (ids === undefined) {
    // Concatenated, not pushed as spread arguments: a name's rows past some 125,000 (a runner with that much room) threw a RangeError.
    due = [...room].flatMap(([name, left]) => (left > 0 ? rowsOf(s.dueOf.all(name, now, Math.min(left, limit))) as DueRow[] : []));
  } else {
    due = (rowsOf(s.dueAmong.all(JSON.stringify(ids), now)) as DueRow[]).filter((row) => room.has(row[1]));
  }
  due.sort((a, b) => a[2] - b[2] || a[0] - b[0]);
  const chosen: number[] = [];
  for (const [seq, name] of due) {
    if (chosen.length === limit) break;
    if (take(room, name)) chosen.push(seq);
  }
  if (chosen.length === 0) return [];
  const claimed = new Map(rowsOf(s.claim.all(owner, leaseUntil, now, JSON.stringify(chosen))).map((row) => [row[SEQ], row]));
  const read: StoredTask[] = [];
  for (const seq of chosen) {
    const row = claimed.get(seq)!;
    try {
      read.push(toTask(row));
    } catch (error) {
      // A row edited by hand must not stop every claim of its name: it fails for good, told by the next recover().
      const message = `${owner} claimed it and could not read its row`;
      const failed = failUnreadable(s, { ...jsonColumns(row), owner, attempt: row[6] as number, started_at: now }, message, now, description);
      if (failed === undefined) throw error;
      unreadable.push(failed);
    }
  }
  return read;
}

/** How many more of each name may run, counted over every process's running tasks (a name without a cap: Infinity). */
export function roomOf(s: Statements, names: readonly string[], concurrency: Readonly<Record<string, number>>): Map<string, number> {
  const room = new Map<string, number>();
  for (const name of names) {
    room.set(name, Object.hasOwn(concurrency, name) ? concurrency[name]! - Number(s.runningOf.get(name)!.n) : Infinity);
  }
  return room;
}

/** Takes one of `name`'s room; false when it has none left (or is not among the names). */
export function take(room: Map<string, number>, name: string): boolean {
  const left = room.get(name);
  if (left === undefined || left <= 0) return false;
  room.set(name, left - 1);
  return true;
}
