import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ring } from '../../src/dashboard/ring.js';

test('a ring keeps the latest items, newest first, and says which one each push past its capacity evicts', () => {
  const ring = new Ring<number>(3);
  assert.deepEqual(ring.newestFirst(), []);
  assert.equal(ring.push(1), undefined);
  assert.equal(ring.push(2), undefined);
  assert.deepEqual(ring.newestFirst(), [2, 1]);
  assert.equal(ring.push(3), undefined);
  assert.equal(ring.push(4), 1);
  assert.equal(ring.push(5), 2);
  assert.deepEqual(ring.newestFirst(), [5, 4, 3]);
});
