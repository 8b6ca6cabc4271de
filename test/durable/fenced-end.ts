// A process paused past its lease while its attempt ran: another process
// recovered the task and claimed it, then the paused attempt completed. The
// store refuses that late completion (fenced); the paused process must not
// report it as completed (tasks.observe, and so the test client and the
// metrics, which counted the task's end twice). Shared by the SQLite and
// BullMQ tests.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createApp, task, type TaskStore } from 'coda-http';
import { LEVEL, memoryLogger } from '../helpers.js';

const OTHER = 'another-process';

/** `store` and `other` are two instances on the same data: the app runs on the first, "another process" on the second. */
export async function assertFencedEndUntold(t: TestContext, store: TaskStore, other: TaskStore): Promise<void> {
  await other.open();
  t.after(() => other.close());
  const { logger, lines } = memoryLogger();
  const paused = task('paused', async (_payload: object, { id, attempt }) => {
    if (attempt > 1) return;
    // The lease run out as seen from the other process (this one paused): it charges the stall and claims the retry.
    const later = Date.now() + 60_000;
    assert.deepEqual(await other.recover(later, () => 0), { held: 0, running: 1 });
    const claimed = await other.claim({ owner: OTHER, names: ['paused'], concurrency: {}, limit: 1, now: later, leaseUntil: later + 60_000 });
    assert.deepEqual(claimed.map((each) => each.id), [id]);
  }, { attempts: 3, backoff: { type: 'fixed', delayMs: 0 } });
  const app = createApp({ logger, tasks: { definitions: [paused], store, concurrency: 1, pollMs: 60_000 } });
  t.after(() => app.tasks.close(performance.now() + 5_000));
  const told: unknown[] = [];
  app.tasks.observe((record) => told.push(record));
  const { id } = await app.tasks.enqueue(paused, {});
  await app.settle();
  assert.deepEqual(told, [], 'the refused completion is not told as completed');
  const refused = lines.filter(({ level, msg }) => level === LEVEL.warn && /completion of durable task paused attempt 1 was not recorded/.test(String(msg)));
  assert.equal(refused.length, 1, 'the refused completion is logged, once');
  // The other process's end is the task's only one.
  assert.deepEqual(await other.complete([id], OTHER, Date.now()), [id]);
  assert.equal((await app.tasks.get(id))?.state, 'completed');
}
