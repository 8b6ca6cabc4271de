// A burst of requests that each register 1,000 after() tasks, against a real
// server in a child process (its heap measured there): past maxPending the
// requests get 503 with Retry-After, the heap stays bounded, every accepted
// request's tasks all run and none of a refused request's, though some of
// them got into the queue before it filled (its client retries: they would
// run twice).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnFixture } from '../helpers.js';

const REQUESTS = 100;
const TASKS = 1_000;
const MAX_PENDING = 20_000;
const MB = 1024 * 1024;

test('a burst of requests each registering 1,000 after() tasks past maxPending: 503s with Retry-After, the heap bounded, every accepted task runs and none of a refused request', { timeout: 60_000 }, async () => {
  const fixture = spawnFixture(new URL('./fixtures/flood-server.ts', import.meta.url), [String(TASKS), String(MAX_PENDING)]);
  try {
    const { url, control } = (await fixture.line((line) => line.event === 'ready')) as { url: string; control: string };
    const heap = async (): Promise<{ heapUsed: number; pending: number }> => (await fetch(`${control}/heap`)).json() as never;
    const before = await heap();

    const answers = await Promise.all(Array.from({ length: REQUESTS }, async (_, id) => {
      const response = await fetch(`${url}/burst/${id}`);
      await response.arrayBuffer();
      return { id: String(id), status: response.status, retryAfter: response.headers.get('retry-after') };
    }));
    const accepted = answers.filter((a) => a.status === 200).map((a) => a.id);
    const refused = answers.filter((a) => a.status !== 200);
    assert.ok(accepted.length > 0 && accepted.length <= MAX_PENDING / TASKS, `${accepted.length} accepted`);
    assert.equal(refused.length, REQUESTS - accepted.length);
    for (const answer of refused) assert.deepEqual([answer.status, answer.retryAfter], [503, '1']);

    const full = await heap();
    assert.ok(full.pending <= MAX_PENDING, `${full.pending} tasks pending`);
    assert.ok(full.heapUsed - before.heapUsed < 64 * MB, `the heap grew by ${Math.round((full.heapUsed - before.heapUsed) / MB)} MB`);

    await (await fetch(`${control}/release`)).arrayBuffer();
    const ran = (await (await fetch(`${control}/ran`)).json()) as Record<string, number>;
    assert.deepEqual(Object.keys(ran).sort(), [...accepted].sort(), 'the tasks of the accepted requests ran, none of a refused one');
    for (const id of accepted) assert.equal(ran[id], TASKS, `every task of request ${id}`);
  } finally {
    fixture.child.kill();
    await fixture.exited;
  }
});
