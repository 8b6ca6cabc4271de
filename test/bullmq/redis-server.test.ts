// The Redis test harness itself (redis-server.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { redisMissing } from './redis-server.js';

const missing = redisMissing();
const fixture = fileURLToPath(new URL('fixtures/redis-file.ts', import.meta.url));

/** The redis-servers' folders in `dir` (tsx keeps its cache there too). */
function redisFolders(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('coda-redis-'));
}

/** Runs the fixture test file under `node --test` with `args`, its temporary folders in `dir`: how it exited and what it printed. */
async function runFixture(dir: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  // Not NODE_TEST_CONTEXT: the run is a test runner of its own, not one of this one's files.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  // A process group of its own: a run that hangs is killed whole, its redis-server with it, well within the test's own timeout.
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', '--test', ...args, fixture], {
    env: { ...env, TMPDIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const hung = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null];
  clearTimeout(hung);
  return { code, signal, output };
}

test('a Redis test file run with a --test-name-pattern that matches none of its tests ends, its redis-server stopped and its folder removed', { skip: missing, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-harness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = await runFixture(dir, ['--test-name-pattern=matches no test of the file']);
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.output);
  assert.doesNotMatch(run.output, /the Redis answers/);
  assert.deepEqual(redisFolders(dir), [], 'the redis-server was stopped, its folder removed');
});

test('the same file run whole starts the Redis, runs its test and ends', { skip: missing, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-harness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = await runFixture(dir, []);
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, run.output);
  assert.match(run.output, /^✔ the Redis answers/m);
  assert.deepEqual(redisFolders(dir), []);
});
