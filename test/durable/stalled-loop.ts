// A task whose first attempt stalls the event loop for longer than the lease
// right after the process's first heartbeat (a long synchronous stretch, as a
// paused process or VM): recovery's timer is then due before the heartbeat's.
// Shared by the SQLite and BullMQ worker tests.
import { task, type StoredTask, type Task, type TaskStore } from 'coda-http';

export interface StalledLoop {
  definition: Task<object>;
  /** The attempts the task ran, in order. */
  attempts: number[];
}

/** Wraps `store`'s heartbeat and recovery to time the stall; the task's first attempt stalls, then runs on until a recovery after the stall has looked. */
export function stalledLoop(name: string, store: TaskStore, leaseMs: number): StalledLoop {
  let beaten!: () => void;
  const heartbeat = new Promise<void>((resolve) => { beaten = resolve; });
  let stalled = false;
  let swept!: () => void;
  const recovery = new Promise<void>((resolve) => { swept = resolve; });
  const renew = store.heartbeat.bind(store);
  store.heartbeat = async (...args) => {
    await renew(...args);
    beaten();
  };
  const recover = store.recover.bind(store);
  store.recover = async (...args) => {
    const recovered = await recover(...args);
    if (stalled) swept();
    return recovered;
  };
  const attempts: number[] = [];
  const definition = task(name, async (_payload: object, { attempt }) => {
    attempts.push(attempt);
    if (attempt > 1) return;
    // Just after the first heartbeat (a third of the lease in), before the first recovery (half of it).
    await heartbeat;
    const until = performance.now() + 2 * leaseMs;
    while (performance.now() < until) { /* a synchronous stretch longer than the lease */ }
    stalled = true;
    // Still running when the recovery that follows the stall has looked at the store.
    await recovery;
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
  return { definition, attempts };
}

/** The task `id` once completed (or as it is after ten seconds), read through `get` (an app's `tasks.get`). */
export async function whenCompleted(get: (id: string) => Promise<StoredTask | null>, id: string): Promise<StoredTask | null> {
  let stored = await get(id);
  for (let i = 0; i < 1000 && stored?.state !== 'completed'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    stored = await get(id);
  }
  return stored;
}
