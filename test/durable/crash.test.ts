// The crash test: a real server process under load, killed with SIGKILL several
// times and started again on the same store file. Every task of every response
// the client received must run at least once; duplicates are counted and
// explained. (bench/crash.ts runs the long version: 20 kills.) Then processes
// SIGKILLed in the middle of a store write, recovered by this one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createApp, runWorker, sqliteStore, task, type App } from 'coda-http';
import { crashRun, startCrashServer, type CrashServer } from './crash-run.js';
import { whenCompleted } from './stalled-loop.js';
import { memoryLogger } from '../helpers.js';

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

const diesWriting = fileURLToPath(new URL('./fixtures/dies-writing.ts', import.meta.url));

/**
 * A store file of the test's own with its schema, and an app on it that only journals and inspects (its
 * 'record' task notes each attempt it would run here); a trigger on the file makes the writes `when` names last a
 * second or more.
 */
async function slowWritesFile(t: TestContext, when: string): Promise<{ db: string; app: App; record: ReturnType<typeof recordTask> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-dies-writing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'tasks.db');
  const record = recordTask();
  const app = createApp({ tasks: { definitions: [record], store: sqliteStore({ path: db }), run: false } });
  t.after(() => app.tasks.close(performance.now() + 2_000));
  await app.tasks.stats();
  onFile(db, (file) => file.exec(`CREATE TRIGGER slow_write ${when} BEGIN
    SELECT count(*) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000000) SELECT i FROM n);
  END`));
  return { db, app, record };
}

function recordTask() {
  const attempts: number[] = [];
  return Object.assign(task('record', (_payload: object, { attempt }) => void attempts.push(attempt), { attempts: 3, backoff: { type: 'fixed', delayMs: 0 } }), { attempts });
}

function onFile(db: string, use: (file: DatabaseSync) => void): void {
  const file = new DatabaseSync(db);
  try {
    use(file);
  } finally {
    file.close();
  }
}

/** Runs dies-writing.ts on `db` until it dies of its own SIGKILL; the lines it printed. */
async function runUntilKilled(t: TestContext, db: string, dieIn: 'end' | 'add'): Promise<string[]> {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', diesWriting], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WORKER_DB: db, DIE_IN: dieIn, CODA_LOG_LEVEL: 'silent' },
  });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  const [code, signal] = await once(child, 'close');
  assert.deepEqual([code, signal], [null, 'SIGKILL'], `killed in its write; it printed: ${lines.join(' | ')}`);
  // The file is whole, and the trigger gone before this process writes.
  onFile(db, (file) => {
    assert.equal(file.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
    file.exec('DROP TRIGGER slow_write');
  });
  return lines;
}

/** Recovers and runs the file's tasks in this process (a new one on the file) until task `id` is completed. */
async function recoverInThisProcess(t: TestContext, db: string, app: App, record: ReturnType<typeof recordTask>, id: string) {
  const worker = await runWorker({ definitions: [record], store: sqliteStore({ path: db }), leaseMs: 1_000, pollMs: 20, handleSignals: false, logger: memoryLogger().logger });
  t.after(() => worker.close({ timeoutMs: 2_000 }));
  return whenCompleted((taskId) => app.tasks.get(taskId), id);
}

test('a worker SIGKILLed in the middle of writing an attempt\'s completion (its transaction open, the write lock held): the file is whole, the task still running there; its key dedupes meanwhile, and a new process recovers it as stalled and runs it once more, as attempt 2', { timeout: 60_000 }, async (t) => {
  const { db, app, record } = await slowWritesFile(t, "AFTER UPDATE OF state ON coda_tasks WHEN new.state = 'completed'");
  const { id } = await app.tasks.enqueue(record, {}, { key: 'only' });
  assert.deepEqual(await runUntilKilled(t, db, 'end'), ['ran 1']);
  const stored = await app.tasks.get(id);
  assert.deepEqual([stored?.state, stored?.attempt], ['running', 1], 'its completion was never committed');
  assert.deepEqual(await app.tasks.enqueue(record, {}, { key: 'only' }), { id, duplicate: true });
  const done = await recoverInThisProcess(t, db, app, record, id);
  assert.deepEqual([done?.state, done?.attempt, record.attempts], ['completed', 2, [2]]);
  assert.match(done!.errors[0]!.message, /^stalled:/, 'the attempt that ran and died unrecorded is counted');
  assert.equal((await app.tasks.stats()).completed, 1, 'one task for the key');
});

test('a process SIGKILLed in the middle of journaling a registration (its transaction open): the file is whole; the task acknowledged before is there and runs once in a new process, the one being written is not there at all', { timeout: 60_000 }, async (t) => {
  const { db, app, record } = await slowWritesFile(t, "AFTER INSERT ON coda_tasks WHEN new.key = 'second'");
  const lines = await runUntilKilled(t, db, 'add');
  assert.equal(lines.length, 1, `only the first acknowledged: ${lines.join(' | ')}`);
  const id = lines[0]!.replace(/^added /, '');
  assert.deepEqual((await app.tasks.list()).map((stored) => [stored.id, stored.key, stored.state]), [[id, 'first', 'ready']]);
  const done = await recoverInThisProcess(t, db, app, record, id);
  assert.deepEqual([done?.state, done?.attempt, record.attempts], ['completed', 1, [1]]);
});
