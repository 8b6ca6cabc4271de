import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinkedList } from '../../src/util/linked-list.js';

class Item {
  previous: Item | undefined = undefined;
  next: Item | undefined = undefined;
  constructor(readonly name: string) {}
}

const names = (list: LinkedList<Item>): string[] => [...list].map((item) => item.name);

test('a linked list keeps its items in order through removals at its head, middle and tail, and while it is iterated', () => {
  const list = new LinkedList<Item>();
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((name) => new Item(name)) as [Item, Item, Item, Item, Item];
  for (const item of [a, b, c, d, e]) list.push(item);
  assert.deepEqual(names(list), ['a', 'b', 'c', 'd', 'e']);
  list.remove(c);
  list.remove(a);
  list.remove(e);
  assert.deepEqual(names(list), ['b', 'd']);
  assert.equal(list.head, b);
  assert.equal(list.tail, d);
  assert.equal(list.size, 2);
  assert.equal(c.previous, undefined, 'a removed item keeps no links');
  assert.equal(c.next, undefined);
  // Each item removed as it is reached: the iteration still visits every one.
  const seen: string[] = [];
  for (const item of list) {
    seen.push(item.name);
    list.remove(item);
  }
  assert.deepEqual(seen, ['b', 'd']);
  assert.equal(list.size, 0);
  assert.equal(list.head, undefined);
  assert.equal(list.tail, undefined);
  list.push(c);
  assert.deepEqual(names(list), ['c'], 'an item removed may join again');
});
