import type { Redis } from 'ioredis';
import type { ListFilter, StoredTask, StoreStats, TaskPage, TaskState } from '../durable/store.js';
import type { Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import { HELD } from './jobs.js';
import type { Keys } from './keys.js';
import { readTasks } from './read.js';
import { runScript } from './scripts.js';

/** The suffixes of a queue's keys each state is listed from: BullMQ's lists and sets, and for held tasks the queue's holds. */
const STATE_KEYS: Record<TaskState, string[]> = {
  held: [HELD],
  ready: ['wait', 'prioritized', 'delayed', 'paused'],
  running: ['active'],
  completed: ['completed'],
  failed: ['failed'],
};

/** How many of a list's or set's job ids one script of a listing looks at: a script runs alone on Redis, so it stays short. */
const LIST_STRETCH = 2_000;

/** Each task name's count of tasks in each state, at `now`, each step within the calling call's time. */
export async function countByName(client: Redis, keys: Keys, now: number, within: Within): Promise<Map<string, Omit<StoreStats, 'byName'>>> {
  const names = (await within(client.smembers(keys.namesKey()))).sort();
  const rows = await Promise.all(names.map((name) => {
    const q = keys.queueKey(name);
    const stateKeys = ['wait', 'prioritized', 'paused', 'active', 'completed', 'failed', 'delayed'].map((suffix) => `${q}:${suffix}`);
    return runScript(client, 'counts', [...stateKeys, keys.heldKey(name)], [(Math.floor(now) + 1) * 0x1000 - 1]) as Promise<number[]>;
  }));
  return new Map(names.map((name, i) => {
    const [ready, delayed, running, completed, failed, held] = rows[i]!;
    return [name, { held: held!, ready: ready!, delayed: delayed!, running: running!, completed: completed!, failed: failed! }];
  }));
}

/**
 * A listing's page (`filter` as checked, its cursor parsed: see parseCursor), each step within the calling call's
 * time; BullmqStore.listPage() says how it is read.
 */
export async function listPage(store: StoreHandle, client: Redis, filter: Required<Pick<ListFilter, 'limit'>> & ListFilter, cursor: readonly string[], within: Within): Promise<TaskPage> {
  const { state, name, limit } = filter;
  const names = name === undefined ? await within(client.smembers(store.keys.namesKey())) : [name];
  const suffixes = [...new Set(state === undefined ? Object.values(STATE_KEYS).flat() : STATE_KEYS[state])];
  // One more than the page: whether there is a next.
  const wanted = limit + 1;
  const newest = new Map<string, PageEntry>();
  const found = (n: string, texts: readonly string[]): void => {
    for (let i = 0; i < texts.length; i += 3) newest.set(texts[i + 2]!, { name: n, id: texts[i + 2]!, at: Number(texts[i]), seq: Number(texts[i + 1]), cursor: texts.slice(i, i + 3).join(':') });
    // The newest kept, and no more, however many stretches: a job that moved meanwhile is listed once.
    if (newest.size > wanted) for (const { id } of [...newest.values()].sort(newerFirst).slice(wanted)) newest.delete(id);
  };
  await Promise.all(names.flatMap((n) => suffixes.map(async (suffix) => {
    if (suffix === 'failed') return found(n, await failedPage(store, n, cursor, wanted, within));
    const q = store.keys.queueKey(n);
    for (let first = 0, full = true; full; first += LIST_STRETCH) {
      const [more, ...texts] = await within(runScript(client, 'newest', [`${q}:${suffix}`], [first, LIST_STRETCH, `${q}:`, ...cursor, wanted]) as Promise<[number, ...string[]]>);
      full = more === 1;
      found(n, texts);
    }
  })));
  const entries = [...newest.values()].sort(newerFirst);
  const page = entries.slice(0, limit);
  const read = await within(readTasks(store, page.map(({ name: n, id }) => [n, id])));
  return {
    // A task that left the state meanwhile (retried, run, removed) is not listed.
    tasks: read.filter((task): task is StoredTask => task !== null && (state === undefined || task.state === state)),
    next: entries.length > limit ? page.at(-1)!.cursor : null,
  };
}

/**
 * A page of a name's failed jobs from its failed index (time, seq and id of each, newest first after `cursor`):
 * one script, reading the page and not the rest. An index that differs from the failed set in size (jobs failed
 * before it existed, or moved by a BullMQ tool), or holds more stale entries than a stretch, is mended first, in
 * stretches, once per call: the page's script never walks the stale entries in one go, holding Redis meanwhile.
 */
async function failedPage(store: StoreHandle, name: string, cursor: readonly string[], wanted: number, within: Within): Promise<string[]> {
  const keys = store.keys.failedKeys(name);
  const read = (mended: string): Promise<[number, ...string[]]> =>
    within(runScript(store.client, 'failedPage', keys, [...cursor, wanted, mended, LIST_STRETCH]) as Promise<[number, ...string[]]>);
  const [inStep, ...texts] = await read('');
  if (inStep === 1) return texts;
  await mendFailed(store, name, within);
  // Read even if a job failed meanwhile (its entry not yet written) and the sizes differ again.
  return (await read('1')).slice(1) as string[];
}

/**
 * A name's failed index made to hold its failed jobs and no others, a stretch per script: each failed job put in
 * (an id whose job is gone taken out of the failed set), then each entry whose job is no longer failed taken out
 * (the stretch's start moving back by what it took out).
 */
async function mendFailed(store: StoreHandle, name: string, within: Within): Promise<void> {
  const keys = store.keys.failedKeys(name);
  const q = `${store.keys.queueKey(name)}:`;
  for (const how of ['add', 'drop']) {
    for (let first = 0, full = true; full;) {
      const [more, removed] = await within(runScript(store.client, 'mend', keys, [q, how, first, LIST_STRETCH]) as Promise<[number, number]>);
      full = more === 1;
      first += LIST_STRETCH - removed;
    }
  }
}

/** A job's entry in its name's failed index brought in step with its state (`sync`), or taken out (`drop`). */
export async function reindex(client: Redis, keys: Keys, name: string, id: string, how: 'sync' | 'drop'): Promise<void> {
  await runScript(client, 'reindex', keys.failedKeys(name), [`${keys.queueKey(name)}:`, how, id]);
}

/** A job a listing found: where it is, its place in the order (time added, then seq, then id), and that place as a page's cursor. */
interface PageEntry {
  name: string;
  id: string;
  at: number;
  seq: number;
  cursor: string;
}

const newerFirst = (a: PageEntry, b: PageEntry): number => b.at - a.at || b.seq - a.seq || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** A page's cursor as the listing script takes it (time, seq, id), or a TypeError: one this store did not give. */
export function parseCursor(after: string): [string, string, string] {
  const parts = /^(\d+):(\d+):(.+)$/s.exec(after);
  if (parts === null) throw new TypeError(`list(): after ${JSON.stringify(after)} is not a cursor this store gave (a page's next)`);
  return [parts[1]!, parts[2]!, parts[3]!];
}

/** Every state's count at zero: the sum stats() adds each name's counts to. */
export const emptyCounts = (): Omit<StoreStats, 'byName'> => ({ held: 0, ready: 0, delayed: 0, running: 0, completed: 0, failed: 0 });
