// The Redis test harness itself (redis-server.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runTestFile } from '../helpers.js';
import { redisMissing } from './redis-server.js';

const missing = redisMissing();
const fixture = fileURLToPath(new URL('fixtures/redis-file.ts', import.meta.url));

/** The redis-servers' folders in `dir` (tsx keeps its cache there too). */
function redisFolders(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('coda-redis-'));
}

test('a Redis test file run with a --test-name-pattern that matches none of its tests ends, its redis-server stopped and its folder removed', { skip: missing, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-harness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = await runTestFile(fixture, ['--test-name-pattern=matches no test of the file'], { TMPDIR: dir });
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.output);
  assert.doesNotMatch(run.output, /the Redis answers/);
  assert.deepEqual(redisFolders(dir), [], 'the redis-server was stopped, its folder removed');
});

test('the same file run whole starts the Redis, runs its test and ends', { skip: missing, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-harness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = await runTestFile(fixture, [], { TMPDIR: dir });
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.output);
  assert.match(run.output, /^✔ the Redis answers/m);
  assert.deepEqual(redisFolders(dir), []);
});
