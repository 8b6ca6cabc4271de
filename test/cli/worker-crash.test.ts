// `coda worker` processes SIGKILLed mid-task on the SQLite store (the web
// process killed is test/durable/crash.test.ts): the task is taken up by
// another worker once the dead one's lease runs out, the lost attempt counts,
// and a task that kills its worker every time ends failed after its attempts.
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { coda, type Cli, tempDb } from './coda.js';
import { crunch, makeApp } from './fixtures/crash-app.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-app.ts', import.meta.url));

/** A `coda worker` on `db` (with `env` besides), killed after the test if still running; resolves once it runs. */
async function worker(t: TestContext, db: string, env: Record<string, string> = {}): Promise<Cli> {
  const cli = coda(['worker', fixture], { CODA_TEST_DB: db, ...env });
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.line(/coda: worker running crunch from sqlite store/);
  return cli;
}

/** Journals a crunch task on `db` from this process (which runs none) and gives its id. */
async function enqueue(db: string, payload: { job: number; finishOn: number; blowUp?: boolean | 'unreadable' }): Promise<string> {
  const app = makeApp(db, false);
  await app.tasks.open();
  const { id } = await app.tasks.enqueue(crunch, payload);
  await app.tasks.close(performance.now() + 1_000);
  return id;
}

async function kill(cli: Cli): Promise<void> {
  cli.child.kill('SIGKILL');
  assert.equal(await cli.exited, null, 'killed by the signal');
}

/** The task's row, read from the file. */
function row(db: string, id: string): { state: string; attempt: number; lease: number; errors: { attempt: number; message: string }[] } {
  const file = new DatabaseSync(db, { readOnly: true });
  try {
    const found = file.prepare('SELECT state, attempt, lease_until - started_at AS lease, errors FROM coda_tasks WHERE id = ?').get(id) as { state: string; attempt: number; lease: number; errors: string };
    return { ...found, errors: JSON.parse(found.errors) as { attempt: number; message: string }[] };
  } finally {
    file.close();
  }
}

const STALLED = /^stalled: .* stopped renewing its lease, which ended at .* \(its process died or hung\)$/;

test('a worker SIGKILLed mid-task: another worker takes the task up once the lease (the app\'s leaseMs) runs out, as its next attempt', { timeout: 30_000 }, async (t) => {
  const db = tempDb(t);
  const first = await worker(t, db);
  const id = await enqueue(db, { job: 1, finishOn: 2 });
  await first.outLine(/^started job 1 attempt 1$/);
  // The worker claimed it for the app's leaseMs (600), not a default of its own (15 s): the web processes and it judge a lease alike.
  const claimed = row(db, id);
  assert.equal(claimed.state, 'running');
  assert.ok(claimed.lease > 0 && claimed.lease <= 1_000, `a lease of the app's 600 ms, got ${claimed.lease} ms`);
  await kill(first);
  const second = await worker(t, db);
  await second.outLine(/^started job 1 attempt 2$/);
  await second.outLine(/^finished job 1$/);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  const task = row(db, id);
  assert.deepEqual([task.state, task.attempt, task.errors.length, task.errors[0]?.attempt], ['completed', 2, 1, 1]);
  assert.match(task.errors[0]!.message, STALLED);
});

test('a poison task that kills its worker on every attempt ends failed after its attempts, not retried forever', { timeout: 30_000 }, async (t) => {
  const db = tempDb(t);
  const id = await enqueue(db, { job: 2, finishOn: 0 });
  for (const attempt of [1, 2]) {
    const victim = await worker(t, db);
    await victim.outLine(new RegExp(`^started job 2 attempt ${attempt}$`));
    await kill(victim);
  }
  // A worker finds the last attempt's lease run out: failed, with nothing left to try.
  const survivor = await worker(t, db);
  await survivor.outLine(/recovered durable tasks of a process that stopped: 0 held, 1 running/);
  survivor.child.kill('SIGTERM');
  assert.equal(await survivor.exited, 0);
  assert.equal(survivor.stdout.filter((line) => line.startsWith('started job 2')).length, 0, 'no third attempt');
  const task = row(db, id);
  assert.deepEqual([task.state, task.attempt, task.errors.map((e) => e.attempt)], ['failed', 2, [1, 2]]);
  for (const error of task.errors) assert.match(error.message, STALLED);
});

test('a task whose uncaught exception kills its worker is recorded as failed with that exception, not found "stalled" a lease later: retried by its policy', { timeout: 30_000 }, async (t) => {
  const db = tempDb(t);
  const id = await diesOfIt(t, db, 3, true, 'Error: job 3 blew up');
  const next = await worker(t, db);
  await next.outLine(/^finished job 3$/);
  next.child.kill('SIGTERM');
  assert.equal(await next.exited, 0);
  assert.equal(row(db, id).state, 'completed');
});

test('an uncaught exception whose value cannot be read (a Proxy whose get trap throws) kills its worker with the attempt recorded as failed, saying so: logging it threw, and the worker died with nothing recorded', { timeout: 30_000 }, async (t) => {
  await diesOfIt(t, tempDb(t), 4, 'unreadable', 'Error: a value that could not be read was thrown (a Proxy; reading it threw Error: unreadable)');
});

test('a worker whose logger throws as it logs that it is dying of an uncaught exception still records the attempt as failed with that exception: the throw in its handler killed it (code 7) with nothing recorded', { timeout: 30_000 }, async (t) => {
  await diesOfIt(t, tempDb(t), 5, true, 'Error: job 5 blew up', { CODA_TEST_THROWING_FATAL: '1' });
});

/**
 * Runs job `job` (its first attempt throwing `blowUp` from a callback) in a worker on `db`, which must die of it (code
 * 1) with the attempt recorded as failed (ready again: it has another) naming `said`, the uncaught value; gives its id.
 */
async function diesOfIt(t: TestContext, db: string, job: number, blowUp: true | 'unreadable', said: string, env: Record<string, string> = {}): Promise<string> {
  const id = await enqueue(db, { job, finishOn: 2, blowUp });
  const victim = await worker(t, db, env);
  await victim.outLine(new RegExp(`^started job ${job} attempt 1$`));
  assert.equal(await victim.exited, 1, 'the worker exits as Node would, code 1');
  const failed = row(db, id);
  assert.deepEqual([failed.state, failed.attempt, failed.errors.map((e) => e.attempt)], ['ready', 1, [1]]);
  assert.equal(failed.errors[0]!.message, `Error: the process died of an uncaught exception while this attempt ran: ${said}`);
  return id;
}
