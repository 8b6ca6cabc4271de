import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue } from '../../src/util/queue.js';

test('a queue gives its items back oldest first, through shifts, peeks and pushes interleaved past its reclaiming of the consumed prefix', () => {
  const queue = new Queue<number>();
  const expected: number[] = [];
  let next = 0;
  // 3,000 pushes and 2,000 shifts in rounds: the consumed prefix passes 1,024 and is reclaimed midway.
  for (let round = 0; round < 1_000; round++) {
    for (let i = 0; i < 3; i++) {
      queue.push(next);
      expected.push(next++);
    }
    assert.equal(queue.peek(), expected[0]);
    assert.equal(queue.shift(), expected.shift());
    assert.equal(queue.shift(), expected.shift());
    assert.equal(queue.length, expected.length);
  }
  assert.deepEqual(queue.items(), expected, 'items() leaves them in place');
  assert.equal(queue.length, 1_000);
  assert.deepEqual(queue.takeAll(), expected);
  assert.equal(queue.length, 0);
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.peek(), undefined);
});
