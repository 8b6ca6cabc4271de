// Chaos across processes on one SQLite file, as an operator's chaos test does
// it: two web processes and two workers (fixtures/chaos.ts) under load, one
// SIGKILLed at random every 0.5-1.5 s and started again, eight times. Then the
// survivors drain, and every task of every 202 received has run, each attempt
// once at most, no process died of its own, and the file is whole
// (chaos-run.ts; the same on Redis: test/bullmq/chaos.test.ts). (One process
// killed alone: crash.test.ts; a worker killed mid-task:
// test/cli/worker-crash.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { runChaos } from './chaos-run.js';

/** The stored rows of the tasks of these n, read from the file: where each one is. */
function rowsOf(db: string, ns: number[]): unknown[] {
  const file = new DatabaseSync(db, { readOnly: true });
  try {
    const now = Date.now();
    return ns.map((n) => file.prepare(`SELECT json_extract(payload, '$.n') AS n, state, attempt, owner, lease_until - ? AS leaseInMs, run_at - ? AS runAtInMs, errors
      FROM coda_tasks WHERE json_extract(payload, '$.n') = ?`).all(now, now, n));
  } finally {
    file.close();
  }
}

test('two web processes and two workers on one SQLite file, one SIGKILLed at random every 0.5-1.5 s under load and started again, eight times: every task of every 202 received runs, a second run only as a later attempt, no process dies of its own, and the file is whole', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-chaos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'tasks.db');
  const logs = mkdtempSync(path.join(dir, 'logs-'));
  const { stop } = await runChaos(t, { env: { CHAOS_DB: db, CHAOS_LOGS: logs }, kills: 8, where: async (tasks) => rowsOf(db, tasks.map(({ n }) => n)) });
  await stop();
  const file = new DatabaseSync(db, { readOnly: true });
  try {
    assert.equal(file.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
  } finally {
    file.close();
  }
});
