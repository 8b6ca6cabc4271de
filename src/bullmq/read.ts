import type { Redis } from 'ioredis';
import type { StoredTask } from '../durable/store.js';
import type { Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import { FIELD, fromPairs, toTask } from './jobs.js';
import { READ_STATE_KEYS, runScript } from './scripts.js';
import { badFields, readableJob } from './unreadable.js';

/** Tasks read whole: hash, log, state and hold, each in one script (see its comment), all in one round trip. */
export async function readTasks(store: StoreHandle, where: readonly (readonly [string, string])[]): Promise<(StoredTask | null)[]> {
  const client = store.client;
  const replies = await Promise.all(where.map(([name, id]) => {
    const key = store.keys.jobKey(name, id);
    const q = store.keys.queueKey(name);
    const states = READ_STATE_KEYS.map((suffix) => `${q}:${suffix}`);
    return runScript(client, 'read', [key, `${key}:logs`, store.keys.heldKey(name), ...states], [id]) as Promise<[string[], string[], string | null, string]>;
  }));
  return where.map(([name, id], i) => {
    const [pairs, logs, lease, bullState] = replies[i]!;
    const hash = fromPairs(pairs);
    // Leases on this process's clock, as they were given (see BullmqStore's skew).
    if (hash[FIELD.lease] !== undefined) hash[FIELD.lease] = String(Number(hash[FIELD.lease]) - store.skew);
    // A job edited by hand is shown with its bad fields replaced, its last error naming them; it is left as it is.
    const readable = readableJob(hash);
    const note = readable === undefined ? undefined : {
      attempt: Number(hash.atm ?? 0), startedAt: null, finishedAt: Number(hash[FIELD.finishedAt] ?? hash.finishedOn ?? hash.timestamp),
      message: `durable task ${id} (job ${store.keys.jobKey(name, id)}) in the ${store.description} cannot be read as stored: ${badFields(readable, 'shown replaced')}`,
    };
    return toTask({
      name, id, hash: { ...hash, ...readable?.fields }, logs, bullState,
      heldUntil: lease === null ? null : Number(lease) - store.skew, note,
    });
  });
}

/** A task by its id (a look-up of its name, then a read), each step within the calling call's time. */
export async function findTask(store: StoreHandle, client: Redis, id: string, within: Within): Promise<StoredTask | null> {
  const names = await within(client.smembers(store.keys.namesKey()));
  const found = await within(Promise.all(names.map((name) => client.exists(store.keys.jobKey(name, id)))));
  const name = names.find((_, i) => found[i] === 1);
  return name === undefined ? null : (await within(readTasks(store, [[name, id]])))[0] ?? null;
}
