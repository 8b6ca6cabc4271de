// The command line's output: tables aligned whatever their length.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Output, printable } from '../../src/cli/output.js';

/** An Output into memory; `lines()` what it wrote, without colour (FORCE_COLOR may be set around the tests). */
function captured(): { out: Output; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { out: new Output(stream), lines: () => chunks.join('').replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(0, -1) };
}

test('a table is aligned by its widest cell; numeric columns to the right', () => {
  const { out, lines } = captured();
  out.table([['task', 'failed'], ['send-welcome', '3'], ['all', '12']], new Set([1]));
  assert.deepEqual(lines(), ['task          failed', 'send-welcome       3', 'all               12']);
});

test('a table of 130,000 rows (coda tasks list --limit 130000) is written: its widths were a spread past the engine\'s limit on arguments, a RangeError', () => {
  const { out, lines } = captured();
  out.table([['id', 'state'], ...Array.from({ length: 130_000 }, (_, i) => [`task-${i}`, 'ready'])]);
  const written = lines();
  assert.equal(written.length, 130_001);
  assert.equal(written.at(-1), 'task-129999  ready');
});

test('printable() writes each control character as its escape, the rest as it is: text from the store shown, never acted on', () => {
  assert.equal(printable('déclinée: 42 €'), 'déclinée: 42 €');
  assert.equal(printable('a\nb\r\tc'), 'a\\nb\\r\\tc');
  assert.equal(printable('\x1b[31m\x07\x00\x7f\x9b'), '\\u001b[31m\\u0007\\u0000\\u007f\\u009b');
  assert.equal(printable('\u2028\u202e\u2066'), '\\u2028\\u202e\\u2066');
});
