import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunksByUnit } from '../../src/durable/chunks.js';

const item = (unit: object | undefined, n: number) => ({ unit, n });
const ns = (chunks: { n: number }[][]): number[][] => chunks.map((chunk) => chunk.map(({ n }) => n));

test('chunksByUnit: batches of at most size, in order of first appearance, a unit never split (its items gathered though others came between)', () => {
  const a = {};
  const b = {};
  const items = [item(a, 1), item(b, 2), item(a, 3), item(undefined, 4), item(undefined, 5), item(b, 6)];
  assert.deepEqual(ns(chunksByUnit(items, 3)), [[1, 3], [2, 6, 4], [5]]);
  assert.deepEqual(ns(chunksByUnit(items, 100)), [[1, 3, 2, 6, 4, 5]]);
});

test('chunksByUnit: a unit larger than size is a batch of its own, whole; 200,000 items of one unit are gathered without a RangeError', () => {
  const big = {};
  assert.deepEqual(ns(chunksByUnit([item(undefined, 0), item(big, 1), item(big, 2), item(big, 3), item(undefined, 4)], 2)), [[0], [1, 2, 3], [4]]);
  const many = Array.from({ length: 200_000 }, (_, n) => item(big, n));
  const [only, ...rest] = chunksByUnit(many, 1000);
  assert.equal(only!.length, 200_000);
  assert.deepEqual(rest, []);
  assert.deepEqual(chunksByUnit([], 10), []);
});
