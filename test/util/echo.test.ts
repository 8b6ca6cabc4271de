import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echo } from '../../src/util/echo.js';

test('echo() keeps up to 200 characters as they are and cuts longer text to 200 with an ellipsis', () => {
  assert.equal(echo(''), '');
  assert.equal(echo('a'.repeat(200)), 'a'.repeat(200));
  assert.equal(echo(`${'a'.repeat(200)}b`), `${'a'.repeat(200)}…`);
});
