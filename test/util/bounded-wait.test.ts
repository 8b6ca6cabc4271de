import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitAtMost } from '../../src/util/bounded-wait.js';

function watched(work: PromiseLike<unknown>, timeoutMs: number): Promise<string[]> {
  const calls: string[] = [];
  return new Promise((resolve) => waitAtMost(work, timeoutMs, () => calls.push('late'), () => resolve([...calls, 'done'])));
}

test('waitAtMost: work that settles (fulfilled, rejected, a thenable whose then throws) is done once, never late', async () => {
  assert.deepEqual(await watched(Promise.resolve(1), 60_000), ['done']);
  assert.deepEqual(await watched(Promise.reject(new Error('no')), 60_000), ['done']);
  assert.deepEqual(await watched({ then() { throw new Error('bad then'); } }, 60_000), ['done']);
});

test('waitAtMost: work that does not settle in time is late, then done, and done no more when it settles later', async () => {
  assert.deepEqual(await watched(new Promise(() => {}), 1), ['late', 'done']);
  let settle!: () => void;
  const work = new Promise<void>((resolve) => { settle = resolve; });
  const calls: string[] = [];
  await new Promise<void>((resolve) => waitAtMost(work, 1, () => calls.push('late'), () => { calls.push('done'); resolve(); }));
  settle();
  await work;
  await null;
  assert.deepEqual(calls, ['late', 'done']);
});
