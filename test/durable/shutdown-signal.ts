// Promise 6 (durable.md): on shutdown a running attempt is let finish until
// the deadline, then aborted through ctx.signal and given back to the store,
// its attempt not counted, even when it honours the signal by rejecting (as
// `fetch(url, { signal })` does). Shared by the SQLite and BullMQ tests.
import assert from 'node:assert/strict';
import { createApp, get, HttpResponse, serve, task, type TaskStore } from 'coda-http';
import { deferred } from '../helpers.js';

/** Runs the case on the stores `open()` makes (each call a new one on the same data, as a restart). */
export async function assertShutdownAbortsThroughSignal(open: () => TaskStore): Promise<void> {
  const deadlineMs = 200;
  const attempts: number[] = [];
  const first = deferred<AbortSignal>();
  let abortedAt = 0;
  const polite = task('polite', async (_payload: object, ctx) => {
    attempts.push(ctx.attempt);
    if (attempts.length > 1) return;
    ctx.signal.addEventListener('abort', () => { abortedAt = performance.now(); });
    first.resolve(ctx.signal);
    await new Promise((_, reject) => { ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)); });
  });
  const build = () => createApp({
    accessLog: false,
    tasks: { definitions: [polite], store: open() },
    routes: [get('/', () => new HttpResponse('ok').after(polite, {}))],
  });
  const app = build();
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  await (await fetch(`${server.url}/`, { headers: { 'x-request-id': 'r-6' } })).text();
  const signal = await first.promise;
  const closingAt = performance.now();
  const report = await server.close({ timeoutMs: deadlineMs });
  assert.equal(signal.aborted, true, 'aborted through ctx.signal');
  assert.match(String((signal.reason as Error).message), /shutdown deadline reached/);
  assert.ok(abortedAt - closingAt >= deadlineMs * 0.9, `let run until the deadline: aborted ${Math.round(abortedAt - closingAt)} ms into a ${deadlineMs} ms shutdown`);
  assert.deepEqual(report.tasksLeftInStore.map(({ name, requestId }) => [name, requestId]), [['polite', 'r-6']]);
  assert.deepEqual(report.tasksAbandoned, []);

  // The store has it ready, its rejection on abort not recorded as a failure; the next start runs it as attempt 1.
  const reader = open();
  await reader.open();
  const stored = await reader.get(report.tasksLeftInStore[0]!.id);
  await reader.close();
  assert.deepEqual([stored?.state, stored?.attempt, stored?.errors], ['ready', 0, []]);
  const again = build();
  const restarted = await serve(again, { port: 0, host: '127.0.0.1', handleSignals: false });
  await again.settle();
  await restarted.close();
  assert.deepEqual(attempts, [1, 1]);
}
