// graphile/worker's serial queue and BullMQ's global concurrency of 1, held
// by an attempt that outlives its timeout: Coda ends such an attempt at the
// timeout (its retry waits in the store) while its work goes on, since a task
// that ignores ctx.signal cannot be stopped. Shared by the SQLite and BullMQ
// peer tests.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { createApp, runWorker, task, type TaskStore } from 'coda-http';
import { deferred, memoryLogger } from '../helpers.js';
import { intercepting } from './intercepting.js';

/** Claims the worker makes after the hanging attempt's timeout, before the test lets that attempt settle. */
const CLAIMS_AFTER_TIMEOUT = 5;

/**
 * Asserts that a task of concurrency 1 whose first attempt ignores its signal past its timeout has neither its retry
 * nor the next task of its name started beside it by a worker on the store `open()` gives, over several claims; once
 * that attempt settles, both run.
 */
export async function assertSerialPastTimeout(t: TestContext, open: () => TaskStore): Promise<void> {
  let running = 0;
  let peak = 0;
  const starts: string[] = [];
  const timedOut = deferred();
  const hang = deferred();
  const done = deferred();
  const hook = task('hook', async ({ n }: { n: number }, ctx) => {
    running++;
    peak = Math.max(peak, running);
    starts.push(`${n}#${ctx.attempt}`);
    try {
      if (starts.length === 1) {
        ctx.signal.addEventListener('abort', () => timedOut.resolve());
        // Ignores the abort: the work of a task that does not honour ctx.signal goes on past its timeout.
        await hang.promise;
      }
    } finally {
      running--;
      if (starts.length === 3 && running === 0) done.resolve();
    }
  }, { concurrency: 1, timeoutMs: 100, attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
  const journal = createApp({ logger: memoryLogger().logger, tasks: { definitions: [hook], store: open(), run: false } });
  t.after(() => journal.tasks.close(performance.now() + 1_000));
  await journal.tasks.enqueue(hook, { n: 1 });
  await journal.tasks.enqueue(hook, { n: 2 });
  let counting = false;
  let claims = 0;
  const claimed = deferred();
  const store = intercepting(open(), 'claim', async (call, args) => {
    const result = await call(...args);
    if (counting && ++claims === CLAIMS_AFTER_TIMEOUT) claimed.resolve();
    return result;
  });
  const worker = await runWorker({ definitions: [hook], store, logger: memoryLogger().logger, handleSignals: false, pollMs: 10 });
  t.after(async () => {
    hang.resolve();
    await worker.close({ timeoutMs: 1_000 });
  });
  await timedOut.promise;
  counting = true;
  await claimed.promise;
  assert.deepEqual(starts, ['1#1'], 'nothing of the name started beside the attempt still running past its timeout');
  hang.resolve();
  await done.promise;
  assert.equal(peak, 1, 'one attempt of the name at a time');
  assert.deepEqual([...starts].sort(), ['1#1', '1#2', '2#1']);
  // Closed, the worker has written every end it had.
  await worker.close({ timeoutMs: 1_000 });
  assert.equal((await journal.tasks.stats()).completed, 2);
}
