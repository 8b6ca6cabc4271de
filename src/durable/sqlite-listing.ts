import type { StatementSync } from 'node:sqlite';
import { rowsOf, SEQ, toTask, type TaskRow } from './sqlite-rows.js';
import type { Statements } from './sqlite-statements.js';
import { jsonColumns, shownRow } from './sqlite-unreadable.js';
import type { ListFilter, StoredTask, StoreStats, TaskPage, TaskState } from './store.js';

/** The earliest run_at of the names' ready tasks (see SqliteStore.nextRunAt()), or null when none is ready. */
export function firstRunAt(s: Statements, names: readonly string[]): number | null {
  let next: number | null = null;
  for (const name of names) {
    const runAt = s.firstRunAt.get(name)?.run_at as number | undefined;
    if (runAt !== undefined && (next === null || runAt < next)) next = runAt;
  }
  return next;
}

/** Each state's count, overall and by name, at `now` (see SqliteStore.stats()). */
export function countStats(s: Statements, now: number): StoreStats {
  const stats: StoreStats = { ...emptyCounts(), byName: {} };
  for (const { state, name, n, delayed } of s.stats.all(now) as unknown as StatsRow[]) {
    const forName = (stats.byName[name] ??= emptyCounts());
    stats[state] += n - delayed;
    forName[state] += n - delayed;
    stats.delayed += delayed;
    forName.delayed += delayed;
  }
  return stats;
}

/** A listing's page (`filter` as checked, its cursor a seq: see SqliteStore.listPage()). */
export function pageOf(s: Statements, filter: Required<Pick<ListFilter, 'limit'>> & ListFilter, description: string): TaskPage {
  const { state, name, limit, after } = filter;
  // One more than the page: whether there is a next.
  const rows = rowsOf(s.list.all(state ?? null, name ?? null, after === undefined ? null : Number(after), limit + 1));
  const page = rows.slice(0, limit);
  return { tasks: page.map((row) => shownTask(row, description)), next: rows.length > limit ? String(page.at(-1)![SEQ]) : null };
}

/** The task of id `id`, or null when none is stored. */
export function taskById(s: Statements, id: string, description: string): StoredTask | null {
  const row = s.get.get(id);
  return row === undefined ? null : shownTask(rowsOf([row])[0]!, description);
}

/** The task of `row`; a column edited by hand so that it does not read is shown replaced, marked in its errors: a listing that threw hid every task. */
function shownTask(row: TaskRow, description: string): StoredTask {
  try {
    return toTask(row);
  } catch {
    const note = { attempt: row[6] as number, startedAt: null, finishedAt: (row[14] ?? row[12]) as number };
    const { backoff, request, trace, outcome, errors } = shownRow(jsonColumns(row), note, description);
    return toTask(Object.assign([...row], { 15: backoff, 16: request, 17: trace, 18: outcome, 19: errors }));
  }
}

interface StatsRow {
  name: string;
  state: TaskState;
  n: number;
  delayed: number;
}

/**
 * The distinct names an index holds, in order, from a statement that gives
 * the first name after its parameter: one index probe per name, however many
 * tasks each has.
 */
export function namesFrom(nameAfter: StatementSync): string[] {
  const names: string[] = [];
  for (let name = nameAfter.get('')?.name; typeof name === 'string'; name = nameAfter.get(name)?.name) names.push(name);
  return names;
}

const emptyCounts = (): Omit<StoreStats, 'byName'> => ({ held: 0, ready: 0, delayed: 0, running: 0, completed: 0, failed: 0 });
