// The crash test: a real server process under load, killed with SIGKILL several
// times and started again on the same store file. Every task of every response
// the client received must run at least once; duplicates are counted and
// explained. (bench/crash.ts runs the long version: 20 kills.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { crashRun, startCrashServer, type CrashServer } from './crash-run.js';

test('SIGKILL under load, three times: every task of every response received runs at least once', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-crash-'));
  try {
    const result = await crashRun({ db: path.join(dir, 'tasks.db'), kills: 3, requestsBetweenKills: 150, connections: 16 });
    assert.ok(result.received.size >= 3 * 100, `expected responses between kills, got ${result.received.size}`);
    assert.deepEqual(result.lost, [], `tasks of received responses never ran: ${result.lost.slice(0, 10).join(', ')}`);
    // A duplicate is a task that ran but whose completion was not yet committed when its process was killed:
    // at least once means it runs again; it can only happen to tasks running at the moment of a kill.
    assert.ok(result.duplicates.length <= result.kills * 16 * 2, `too many duplicates for ${result.kills} kills: ${result.duplicates.length}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a held task whose outcome was never recorded (killed after its response, before its release) runs when recovered, though its when is 'success'", { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'tasks.db');
  const ran = new Map<number, number>();
  let ranNow = (): void => {};
  const start = async (env?: Record<string, string>): Promise<CrashServer> => {
    const server = await startCrashServer(db, ran, () => ranNow(), env);
    // Killed however the test ends, a timeout included: a live child would keep the test process running.
    t.after(() => { server.process.kill('SIGKILL'); });
    return server;
  };
  const first = await start({ CRASH_HOLD_RELEASES: '1' });
  const res = await fetch(`http://127.0.0.1:${first.port}/work/7`, { method: 'POST' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  first.process.kill('SIGKILL');
  await first.exited;
  assert.equal(ran.size, 0, 'the release was never written: the task could not run in the first life');
  const recovered = new Promise<void>((resolve) => { ranNow = () => { if (ran.has(7)) resolve(); }; });
  await start();
  await recovered;
  assert.deepEqual([...ran], [[7, 1]]);
});
