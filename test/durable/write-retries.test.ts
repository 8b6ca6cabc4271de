import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeWithRetries, WRITE_RETRIES } from '../../src/durable/write-retries.js';

const quick = { attempts: 3, delayMs: () => 1 };

/**
 * The retries' waits are unref'd (they keep no process alive): the test holds
 * the event loop open itself while it awaits them, or Node 22's runner may
 * find the loop empty and end the test as still pending.
 */
async function held<T>(promise: Promise<T>): Promise<T> {
  const alive = setInterval(() => {}, 1_000);
  try {
    return await promise;
  } finally {
    clearInterval(alive);
  }
}

test('a refused write is tried again until written; the first refusal is told once', async () => {
  let calls = 0;
  const refusals: unknown[] = [];
  const written = await held(writeWithRetries(async () => {
    if (++calls < 3) throw new Error(`refused ${calls}`);
  }, (error) => refusals.push(error), quick));
  assert.equal(written, true);
  assert.equal(calls, 3);
  assert.deepEqual(refusals.map((error) => (error as Error).message), ['refused 1']);
});

test('a write refused past its attempts is given up: false, after exactly that many tries', async () => {
  let calls = 0;
  const written = await held(writeWithRetries(async () => {
    calls++;
    throw new Error('refused');
  }, () => {}, quick));
  assert.equal(written, false);
  assert.equal(calls, 3);
});

test('the default policy waits longer each time, a second at most, about a minute in all', () => {
  const waits = Array.from({ length: WRITE_RETRIES.attempts - 1 }, (_, i) => WRITE_RETRIES.delayMs(i + 1));
  assert.deepEqual(waits.slice(0, 4), [100, 200, 400, 800]);
  assert.ok(waits.every((ms) => ms <= 1_000));
  const total = waits.reduce((a, b) => a + b, 0);
  assert.ok(total >= 55_000 && total <= 65_000, `${total} ms in all`);
});
