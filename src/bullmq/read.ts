import type { Redis } from 'ioredis';
import type { StoredTask } from '../durable/store.js';
import type { Within } from './connection.js';
import type { StoreContext } from './context.js';
import { FIELD, fromPairs, toTask } from './jobs.js';
import { READ_STATE_KEYS, runScript } from './scripts.js';
import { badFields, readableJob } from './unreadable.js';

/** Tasks read whole: hash, log, state and hold, each in one script (see its comment), all in one round trip. */
export async function readTasks(ctx: StoreContext, where: readonly (readonly [string, string])[]): Promise<(StoredTask | null)[]> {
  const client = ctx.client;
  const replies = await Promise.all(where.map(([name, id]) => {
    const key = ctx.keys.jobKey(name, id);
    const q = ctx.keys.queueKey(name);
    const states = READ_STATE_KEYS.map((suffix) => `${q}:${suffix}`);
    return runScript(client, 'read', [key, `${key}:logs`, ctx.keys.heldKey(name), ...states], [id]) as Promise<[string[], string[], string | null, string]>;
  }));
  return where.map(([name, id], i) => {
    const [pairs, logs, lease, bullState] = replies[i]!;
    const hash = fromPairs(pairs);
    // Leases on this process's clock, as they were given (see BullmqStore's skew).
    if (hash[FIELD.lease] !== undefined) hash[FIELD.lease] = String(Number(hash[FIELD.lease]) - ctx.skew);
    // A job edited by hand is shown with its bad fields replaced, its last error naming them; it is left as it is.
    const readable = readableJob(hash);
    const note = readable === undefined ? undefined : {
      attempt: Number(hash.atm ?? 0), startedAt: null, finishedAt: Number(hash[FIELD.finishedAt] ?? hash.finishedOn ?? hash.timestamp),
      message: `durable task ${id} (job ${ctx.keys.jobKey(name, id)}) in the ${ctx.description} cannot be read as stored: ${badFields(readable, 'shown replaced')}`,
    };
    return toTask({
      name, id, hash: { ...hash, ...readable?.fields }, logs, bullState,
      heldUntil: lease === null ? null : Number(lease) - ctx.skew, note,
    });
  });
}

/** A task by its id (a look-up of its name, then a read), each step within the calling call's time. */
export async function findTask(ctx: StoreContext, client: Redis, id: string, within: Within): Promise<StoredTask | null> {
  const names = await within(client.smembers(ctx.keys.namesKey()));
  const found = await within(Promise.all(names.map((name) => client.exists(ctx.keys.jobKey(name, id)))));
  const name = names.find((_, i) => found[i] === 1);
  return name === undefined ? null : (await within(readTasks(ctx, [[name, id]])))[0] ?? null;
}
