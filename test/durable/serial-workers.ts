// graphile/worker's "jobs added to the same queue will be ran serially (even
// if multiple workers)", on any store: a task of concurrency 1 enqueued five
// times and run by three runWorker() instances on the same data. Shared by the
// SQLite and BullMQ peer tests.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createApp, runWorker, task, type TaskStore } from 'coda-http';
import { deferred, memoryLogger } from '../helpers.js';

/** Asserts that the three workers, each on a store `open()` gives (one data), start one attempt at a time, in the order enqueued, each once. */
export async function assertSerialAcrossWorkers(t: TestContext, open: () => TaskStore): Promise<void> {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const started: number[] = [];
  let nextStart = deferred();
  let running = 0;
  let peak = 0;
  const serial = task('serial', async ({ n }: { n: number }) => {
    running++;
    peak = Math.max(peak, running);
    started.push(n);
    const gate = deferred();
    gates.push(gate);
    nextStart.resolve();
    await gate.promise;
    running--;
  }, { concurrency: 1 });
  const journal = createApp({ logger: memoryLogger().logger, tasks: { definitions: [serial], store: open(), run: false } });
  t.after(() => journal.tasks.close(performance.now() + 1_000));
  for (let n = 1; n <= 5; n++) await journal.tasks.enqueue(serial, { n });
  const workers = await Promise.all([1, 2, 3].map(() => runWorker({
    definitions: [serial], store: open(), logger: memoryLogger().logger, handleSignals: false, pollMs: 10,
  })));
  t.after(async () => {
    for (const gate of gates) gate.resolve();
    await Promise.all(workers.map((worker) => worker.close({ timeoutMs: 1_000 })));
  });
  for (let i = 0; i < 5; i++) {
    await nextStart.promise;
    nextStart = deferred();
    assert.deepEqual(started, Array.from({ length: i + 1 }, (_, j) => j + 1), 'one attempt at a time, in the order enqueued');
    assert.equal(running, 1);
    gates[i]!.resolve();
  }
  await Promise.all(workers.map((worker) => worker.close({ timeoutMs: 1_000 })));
  assert.equal(peak, 1);
  assert.deepEqual(started, [1, 2, 3, 4, 5], 'each once');
  assert.equal((await journal.tasks.stats()).completed, 5);
}
