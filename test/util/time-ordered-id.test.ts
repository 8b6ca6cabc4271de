import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeOrderedId } from '../../src/util/time-ordered-id.js';

test('time-ordered ids are UUIDv7: version 7, RFC variant, sorted by time, unique within a millisecond', () => {
  const now = Date.UTC(2026, 10, 23);
  const ids = Array.from({ length: 1000 }, (_, i) => timeOrderedId(now + Math.floor(i / 10)));
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(ids[0]!.slice(0, 13).replace('-', ''), now.toString(16).padStart(12, '0'));
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 10; i < ids.length; i += 10) assert.ok(ids[i - 1]! < ids[i]!, 'a later millisecond sorts later');
});
