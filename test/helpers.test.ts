// The suite's own helpers (helpers.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runTestFile } from './helpers.js';

test('a test file whose server is started() in its hooks, run with a --test-name-pattern that matches none of its tests, ends, the server closed', { timeout: 120_000 }, async () => {
  const run = await runTestFile(fileURLToPath(new URL('fixtures/started-file.ts', import.meta.url)), ['--test-name-pattern=matches no test of the file']);
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.output);
  assert.match(run.output, /the server was closed/);
  assert.doesNotMatch(run.output, /the server answers/);
});
