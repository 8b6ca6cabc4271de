// BullMQ's lock renewal ("should renew lock for long-running jobs") and
// graphile/worker's locked_at, on any store: an attempt that runs for five
// leases, beside a second worker that recovers dead processes' tasks every
// half lease, is never taken over while its process lives. Shared by the
// SQLite and BullMQ peer tests.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createApp, runWorker, task, type TaskStore } from 'coda-http';
import { deferred, memoryLogger } from '../helpers.js';

const LEASE_MS = 300;

/** Asserts that a task whose one attempt lasts five leases runs once, as attempt 1, completed with no stall charged. */
export async function assertLongAttemptKept(t: TestContext, open: () => TaskStore): Promise<void> {
  const attempts: number[] = [];
  const finished = deferred();
  const long = task('long', async (_payload: object, ctx) => {
    attempts.push(ctx.attempt);
    // The work itself: five leases long, its process alive all along.
    await new Promise((resolve) => setTimeout(resolve, 5 * LEASE_MS));
    finished.resolve();
  }, { attempts: 3, timeoutMs: 20 * LEASE_MS });
  const journal = createApp({ logger: memoryLogger().logger, tasks: { definitions: [long], store: open(), run: false } });
  t.after(() => journal.tasks.close(performance.now() + 1_000));
  const { id } = await journal.tasks.enqueue(long, {});
  const workers = await Promise.all([1, 2].map(() => runWorker({
    definitions: [long], store: open(), logger: memoryLogger().logger, handleSignals: false, leaseMs: LEASE_MS, pollMs: 20,
  })));
  t.after(() => Promise.all(workers.map((worker) => worker.close({ timeoutMs: 1_000 }))));
  await finished.promise;
  // Closed, the workers have written every end they had.
  await Promise.all(workers.map((worker) => worker.close({ timeoutMs: 1_000 })));
  assert.deepEqual(attempts, [1], 'run once, never taken over by the other worker');
  const stored = (await journal.tasks.get(id))!;
  assert.deepEqual({ state: stored.state, attempt: stored.attempt, errors: stored.errors }, { state: 'completed', attempt: 1, errors: [] });
}
