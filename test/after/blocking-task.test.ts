// An after() task that blocks the event loop (a 300 ms busy loop), against a
// real server: requests that reach the server meanwhile are answered once it
// returns, and its timeoutMs (50 ms) cannot interrupt it, as no
// timer runs while synchronous code does: the task is reported completed,
// its signal never aborted. The docs say so (docs/after-response.md, row 11).
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { createApp, get, HttpResponse, type AfterContext, type TaskFailure } from 'coda-http';
import { connect, startServer } from '../helpers.js';
import { askOk } from '../transport/wire.js';

const WAITING = 8;
const BUSY_MS = 300;

/** Spins for `ms`: synchronous work no timer can interrupt. */
function busy(ms: number): number {
  const until = performance.now() + ms;
  let spins = 0;
  while (performance.now() < until) spins++;
  return spins;
}

for (const kind of ['a synchronous task', 'an async task blocking after its first await'] as const) {
  test(`${kind} busy for ${BUSY_MS} ms past its 50 ms timeoutMs: requests arriving meanwhile are answered after it, it is reported completed, its signal not aborted`, { timeout: 20_000 }, async () => {
    const failures: TaskFailure[] = [];
    let served = 0;
    let waiting: Socket[] = [];
    let answers: Promise<unknown>[] = [];
    let signal: AbortSignal | undefined;
    const block = (ctx: AfterContext): void => {
      signal = ctx.signal;
      // Written now, they reach the server while its event loop is busy.
      answers = waiting.map((socket) => askOk(socket));
      busy(BUSY_MS);
    };
    const app = createApp({
      after: { onError: (failure) => void failures.push(failure) },
      routes: [
        get('/block', () => new HttpResponse('blocking').after(
          kind === 'a synchronous task' ? block : async (ctx) => { await null; block(ctx); },
          { name: 'blocks', timeoutMs: 50 },
        )),
        get('/ok', () => (served++, new HttpResponse('ok'))),
      ],
    });
    const server = await startServer(app);
    try {
      waiting = await Promise.all(Array.from({ length: WAITING }, () => connect(server)));
      assert.equal(await (await fetch(`${server.url}/block`)).text(), 'blocking');
      await app.settle();
      assert.equal((await Promise.all(answers)).length, WAITING, 'every request that arrived meanwhile is answered');
      assert.equal(served, WAITING, 'each by its view');
      assert.equal(signal?.aborted, false, 'the timeout never fired');
      const { completed, timedOut, failed, running } = app.afterStats();
      assert.deepEqual({ completed, timedOut, failed, running }, { completed: 1, timedOut: 0, failed: 0, running: 0 });
      assert.deepEqual(failures, []);
    } finally {
      for (const socket of waiting) socket.destroy();
      await server.close({ timeoutMs: 1_000 });
    }
  });
}
