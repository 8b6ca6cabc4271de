import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { after, createApp, get, runWorker, serve, sqliteStore, task } from 'coda-http';
import { assertFencedEndUntold } from './fenced-end.js';
import { stalledLoop, whenCompleted } from './stalled-loop.js';
import { assertDelayedOutlivesKill, lineWorker, type LineWorker } from './delayed-kill.js';
import { openResponse } from './open-response.js';
import { deferred, memoryLogger } from '../helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/** A store file in a folder of its own, removed when the test ends. */
function tasksFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}

test('two runWorker() processes on one store file share the tasks an app enqueues: each runs once; SIGTERM stops them cleanly', { timeout: 30_000 }, async (t) => {
  const db = tasksFile(t);
  const total = 200;
  const ran = new Map<number, string[]>();
  let allRan: () => void;
  const done = new Promise<void>((resolve) => { allRan = resolve; });
  const workers = [0, 1].map(() => {
    const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, WORKER_DB: db, CODA_LOG_LEVEL: 'silent' },
    });
    const ready = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') resolve();
        const [word, n, pid] = line.split(' ');
        if (word !== 'ran') return;
        ran.set(Number(n), [...(ran.get(Number(n)) ?? []), pid!]);
        if (ran.size === total) allRan();
      });
    });
    return { child, ready };
  });
  // A failed assertion below must not leave the workers running (the test file would never end).
  t.after(() => { for (const { child } of workers) if (child.exitCode === null) child.kill('SIGKILL'); });
  await Promise.all(workers.map((w) => w.ready));

  // The web process journals; `run: false` leaves running to the workers.
  const record = task('record', () => { throw new Error('the web process must not run it'); });
  const app = createApp({ tasks: { definitions: [record], store: sqliteStore({ path: db }), run: false } });
  for (let n = 0; n < total; n++) await app.tasks.enqueue(record, { n });
  await done;
  assert.equal(ran.size, total);
  assert.deepEqual([...ran.values()].filter((pids) => pids.length > 1), [], 'no task ran twice');
  const pids = new Set([...ran.values()].map(([pid]) => pid));
  assert.equal(pids.size, 2, 'both workers took tasks');

  for (const { child } of workers) child.kill('SIGTERM');
  const codes = await Promise.all(workers.map(({ child }) => once(child, 'exit').then(([code]) => code as number)));
  assert.deepEqual(codes, [0, 0]);
  assert.equal((await app.tasks.stats()).completed, total);
});

test('a second SIGTERM while a worker lets a long attempt finish exits at once with code 1, logged, with no error', { timeout: 20_000 }, async (t) => {
  const db = tasksFile(t);
  const record = task('record', () => { throw new Error('the web process must not run it'); });
  const app = createApp({ tasks: { definitions: [record], store: sqliteStore({ path: db }), run: false } });
  await app.tasks.enqueue(record, { n: 1, ms: 60_000 });
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WORKER_DB: db, CODA_LOG_LEVEL: 'info' },
  });
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! });
  const logged = (pattern: RegExp): Promise<void> => new Promise((resolve) => {
    const onLine = (line: string): void => { if (pattern.test(line)) { lines.off('line', onLine); resolve(); } };
    lines.on('line', onLine);
  });
  const draining = logged(/"msg":"worker shutting down/);
  const secondLogged = logged(/"level":40,.*"msg":"second signal: exiting at once; the 1 running/);
  await logged(/^ran 1 /);
  child.kill('SIGTERM');
  await draining;
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 1, `its stderr: ${stderr}`);
  await secondLogged;
  assert.doesNotMatch(stderr, /Error/);
});

/** A worker process (fixtures/worker.ts) on `db`, SIGKILLed when the test ends. */
const spawnWorker = (t: TestContext, db: string, env: Record<string, string> = {}): LineWorker => lineWorker(t, fixture, { WORKER_DB: db, ...env });

const stall = task('stall', () => { throw new Error('the web process must not run it'); }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 120_000 });

test('a worker SIGKILLed mid-task beside a live worker on the same file: the live one recovers the task once its lease runs out, within about leaseMs (1 s here, against a default of 15 s), not before (the stall counted as attempt 1) and runs it once more; it ran once in each', { timeout: 30_000 }, async (t) => {
  const db = tasksFile(t);
  const leaseMs = 1_000;
  const workers = [0, 1].map(() => spawnWorker(t, db, { WORKER_LEASE_MS: String(leaseMs) }));
  await Promise.all(workers.map((worker) => worker.ready));
  const app = createApp({ tasks: { definitions: [stall], store: sqliteStore({ path: db }), run: false } });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  const claimed = Promise.race(workers.map((worker) => worker.printed(/^started 1 1 /).then(() => worker)));
  const { id } = await app.tasks.enqueue(stall, { n: 1 });
  const claimer = await claimed;
  const survivor = workers.find((worker) => worker !== claimer)!;
  const rerun = survivor.printed(/^started 1 2 /).then(() => performance.now());
  const killedAt = performance.now();
  claimer.child.kill('SIGKILL');
  await once(claimer.child, 'exit');
  // The lease, last renewed at most leaseMs / 3 before the kill, runs out within leaseMs of it; the survivor's
  // recovery pass (every leaseMs / 2) then takes the task up: 1.5 x leaseMs, and a second for a loaded machine.
  const recoveredIn = (await rerun) - killedAt;
  assert.ok(recoveredIn >= leaseMs / 2 && recoveredIn <= leaseMs * 1.5 + 1_000, `recovered ${Math.round(recoveredIn)} ms after the kill, with a lease of ${leaseMs} ms`);
  const done = await whenCompleted((taskId) => app.tasks.get(taskId), id);
  assert.deepEqual([done?.state, done?.attempt], ['completed', 2]);
  assert.match(done!.errors[0]!.message, /^stalled:/);
  assert.deepEqual([claimer.lines, survivor.lines].map((lines) => lines.filter((line) => line.startsWith('started')).length), [1, 1]);
});

test('a live web process\'s hold, its response lasting five leases, is never taken by a worker process on the same file (the web process renews it); once the response is done the worker runs it once, with its outcome, no stall charged (promise 2)', { timeout: 30_000 }, async (t) => {
  const db = tasksFile(t);
  const leaseMs = 300;
  const record = task('record', () => { throw new Error('the web process must not run it'); });
  const finish = deferred();
  const app = createApp({
    accessLog: false,
    tasks: { definitions: [record], store: sqliteStore({ path: db }), run: false, leaseMs },
    routes: [get('/held', () => {
      void after(record, { n: 3 });
      return openResponse(finish.promise);
    })],
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1_000 }));
  const worker = spawnWorker(t, db, { WORKER_LEASE_MS: String(leaseMs) });
  await worker.ready;
  const body = (await fetch(`${web.url}/held`)).body!.getReader();
  assert.match(new TextDecoder().decode((await body.read()).value), /started/);
  // Time is the point: five leases pass (ten of the worker's recovery passes) while the response is still being sent.
  await delay(leaseMs * 5);
  assert.deepEqual(worker.lines, ['ready'], 'the worker took nothing');
  const [held] = await app.tasks.list({ state: 'held' });
  assert.ok(held !== undefined, 'still held by the live web process');
  finish.resolve();
  while (!(await body.read()).done);
  await worker.printed(/^ran 3 /);
  const done = await whenCompleted((taskId) => app.tasks.get(taskId), held.id);
  assert.deepEqual([done?.state, done?.attempt, done?.errors, done?.outcome?.status], ['completed', 1, [], 200]);
});

test('a task delayed by delayMs outlives the SIGKILL of the worker that would have run it: a new worker process runs it once, no sooner than its time', { timeout: 30_000 }, async (t) => {
  const db = tasksFile(t);
  const record = task('record', () => { throw new Error('the web process must not run it'); });
  const app = createApp({ tasks: { definitions: [record], store: sqliteStore({ path: db }), run: false } });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  await assertDelayedOutlivesKill(app, record, 1_500, () => spawnWorker(t, db));
});

test('runWorker() checks its options', async () => {
  const store = sqliteStore({ path: ':memory:' });
  await assert.rejects(runWorker({ definitions: [], store, handleSignals: false }), /runWorker\(\): definitions lists no task to run/);
  await assert.rejects(runWorker({ definitions: [task('a', () => {})], store, concurency: 2 } as never), /unknown option "concurency"; did you mean "concurrency"\?/);
  for (const value of [0, -1, Number.NaN, Infinity, '100']) {
    await assert.rejects(runWorker({ definitions: [task('a', () => {})], store, handleSignals: false, shutdownTimeoutMs: value as number }), { name: 'RangeError', message: /^runWorker\(\): shutdownTimeoutMs must be a positive number of milliseconds/ });
  }
});

test('runWorker() without a store, or with a path for one, is a TypeError saying what to give (it was "Cannot read properties of undefined (reading \'open\')", or "store.open is not a function")', async () => {
  const definitions = [task('a', () => {})];
  await assert.rejects(runWorker({ definitions, handleSignals: false } as never), {
    name: 'TypeError', message: 'runWorker(): store is not set: a worker runs the tasks of a store, e.g. sqliteStore({ path: "var/tasks.db" })',
  });
  await assert.rejects(runWorker({ definitions, store: 'var/tasks.db' as never, handleSignals: false }), {
    name: 'TypeError', message: 'runWorker(): store must be a task store (sqliteStore(), bullmqStore()), got string "var/tasks.db"',
  });
});

test('a worker logs the absolute path of the SQLite file it opened: a relative path is the working directory\'s', async (t) => {
  const db = tasksFile(t);
  const relative = path.relative(process.cwd(), db);
  assert.ok(!path.isAbsolute(relative));
  const { logger, lines } = memoryLogger();
  const worker = await runWorker({ definitions: [task('a', () => {})], store: sqliteStore({ path: relative }), logger, handleSignals: false });
  t.after(() => worker.close());
  const started = lines.find((line) => line.file !== undefined);
  assert.equal(started?.file, db);
  assert.equal(started.msg, `worker started on ${db}`);
});

test('a worker closed without a timeoutMs gives its running attempts shutdownTimeoutMs to finish (as a signal does), then gives them back to the store', { timeout: 8_000 }, async (t) => {
  const db = tasksFile(t);
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  // Ignores its signal: only the deadline ends the close. With the fixed 10 s this test timed out.
  const stuck = task('stuck', () => { started(); return new Promise<void>(() => {}); }, { timeoutMs: 60_000 });
  const app = createApp({ tasks: { definitions: [stuck], store: sqliteStore({ path: db }), run: false } });
  t.after(() => app.tasks.close(performance.now()));
  const { id } = await app.tasks.enqueue(stuck, {});
  const worker = await runWorker({ definitions: [stuck], store: sqliteStore({ path: db }), pollMs: 20, handleSignals: false, shutdownTimeoutMs: 100 });
  await running;
  assert.deepEqual((await worker.close()).map((left) => left.id), [id]);
});

test('a store that does not take running attempts back by the shutdown deadline is given up on within a second of it, logged; the task\'s lease runs out and another process\'s recovery runs it, the stall counted', { timeout: 20_000 }, async (t) => {
  const db = tasksFile(t);
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  const attempts: number[] = [];
  // The first attempt ignores its signal: only the deadline ends the close; the next one completes.
  const stuck = task('stuck', (_payload: object, { attempt }) => {
    attempts.push(attempt);
    if (attempt > 1) return undefined;
    started();
    return new Promise<void>(() => {});
  }, { timeoutMs: 60_000, backoff: { type: 'fixed', delayMs: 0 } });
  const app = createApp({ tasks: { definitions: [stuck], store: sqliteStore({ path: db }), run: false } });
  t.after(() => app.tasks.close(performance.now()));
  const { id } = await app.tasks.enqueue(stuck, {});
  const inner = sqliteStore({ path: db });
  // A store that never answers a giveBack (a hung connection): the rest of its calls go through.
  const hanging = new Proxy(inner, {
    get(target, key) {
      if (key === 'giveBack') return () => new Promise<void>(() => {});
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const { logger, lines } = memoryLogger();
  const leaseMs = 300;
  const worker = await runWorker({ definitions: [stuck], store: hanging, logger, leaseMs, pollMs: 20, handleSignals: false });
  await running;
  const closing = performance.now();
  assert.deepEqual((await worker.close({ timeoutMs: 50 })).map((left) => left.id), [id]);
  const took = performance.now() - closing;
  assert.ok(took < 3_000, `close() returned ${Math.round(took)} ms after it was called: the deadline (50 ms) and the store's grace (1 s)`);
  assert.ok(lines.some(({ msg }) => String(msg).includes('did not take running durable tasks back within 1000 ms of the deadline; they will be recovered when their lease runs out')), 'logged');
  const next = await runWorker({ definitions: [stuck], store: sqliteStore({ path: db }), leaseMs, pollMs: 20, handleSignals: false, logger: memoryLogger().logger });
  const stored = await whenCompleted((taskId) => app.tasks.get(taskId), id);
  await next.close();
  assert.equal(stored!.state, 'completed');
  assert.deepEqual(attempts, [1, 2]);
  assert.match(stored!.errors[0]!.message, /^stalled: /);
});

test('a worker shutting down keeps renewing the lease of the attempt it lets finish: no other process takes the task over meanwhile', { timeout: 20_000 }, async (t) => {
  const db = tasksFile(t);
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  let finish!: () => void;
  const finishing = new Promise<void>((resolve) => { finish = resolve; });
  const attempts: number[] = [];
  const slow = task('slow', async (_payload: object, { attempt }) => {
    attempts.push(attempt);
    started();
    await finishing;
  });
  const leaseMs = 300;
  const worker = await runWorker({ definitions: [slow], store: sqliteStore({ path: db }), leaseMs, pollMs: 20, handleSignals: false });
  const app = createApp({ tasks: { definitions: [slow], store: sqliteStore({ path: db }), run: false } });
  const { id } = await app.tasks.enqueue(slow, {});
  await running;
  const closed = worker.close({ timeoutMs: 10_000 });
  // Renewed while the worker closes (the heartbeat runs every third of the lease), more than once: past what the lease alone would cover.
  const leaseAtClose = (await app.tasks.get(id))!.leaseUntil!;
  let lease = leaseAtClose;
  for (let i = 0; i < 200 && lease < leaseAtClose + 2 * leaseMs; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    lease = (await app.tasks.get(id))!.leaseUntil!;
  }
  assert.ok(lease >= leaseAtClose + 2 * leaseMs, `the lease was renewed during shutdown (from ${leaseAtClose} to ${lease})`);
  finish();
  assert.deepEqual(await closed, []);
  const stored = await app.tasks.get(id);
  assert.equal(stored!.state, 'completed');
  assert.deepEqual(attempts, [1]);
  assert.deepEqual(stored!.errors, []);
});

test('a loop stalled longer than the lease right after a heartbeat (a long synchronous task, a paused process): recovery renews the process\'s own leases first, and does not charge its live attempt a stall', { timeout: 20_000 }, async (t) => {
  const db = tasksFile(t);
  const leaseMs = 600;
  const store = sqliteStore({ path: db });
  const { definition, attempts } = stalledLoop('blocking', store, leaseMs);
  const app = createApp({ tasks: { definitions: [definition], store: sqliteStore({ path: db }), run: false } });
  const { id } = await app.tasks.enqueue(definition, {});
  const worker = await runWorker({ definitions: [definition], store, leaseMs, pollMs: 20, handleSignals: false });
  const stored = await whenCompleted((taskId) => app.tasks.get(taskId), id);
  await worker.close();
  assert.equal(stored!.state, 'completed');
  assert.deepEqual(stored!.errors, []);
  assert.deepEqual(attempts, [1]);
});

test('a paused process\'s late completion, refused by the store (another process claimed the task since), is not told as completed to tasks.observe (the test client, the metrics): logged as refused', { timeout: 20_000 }, async (t) => {
  const db = tasksFile(t);
  await assertFencedEndUntold(t, sqliteStore({ path: db }), sqliteStore({ path: db }));
});
