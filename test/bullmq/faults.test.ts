// Faults against a real redis-server: Redis going away under load and coming
// back, and the web process killed between a registration and the end of its
// response, and a Redis that stops answering. (Redis down at start: store.test.ts; a worker killed mid-task:
// worker.test.ts.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, createApp, HttpResponse, post, runWorker, serve, StoreUnavailable, task, type NewTask, type TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { defineScripts, runScript } from '../../src/bullmq/scripts.js';
import { MAX_UNDO_TASKS, Undos } from '../../src/bullmq/undo.js';
import { COMMAND_TIMEOUT_MS } from '../../src/bullmq/connection.js';
import { deferred, LEVEL, memoryLogger } from '../helpers.js';
import { assertDelayedOutlivesKill, lineWorker } from '../durable/delayed-kill.js';
import { startRedis, useRedis, type RedisServer } from './redis-server.js';
import { hearingRefusals } from './refusals.js';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { pino } from 'pino';

// Persistent (AOF, fsync always): a Redis killed and started again has every write it acknowledged.
const { missing, server } = useRedis({ persistent: true });

/** A worker's JSON log line, shortened to what a failure's message needs: its time, level, message and error's message. */
function logged(line: string): string {
  const { time, level, msg, err } = JSON.parse(line) as { time: number; level: number; msg?: string; err?: { message?: string } };
  return `${time} ${level} ${msg ?? ''}${err?.message === undefined ? '' : ` (${err.message})`}`;
}

/**
 * Two runWorker() processes (fixtures/worker.ts) on `prefix`, SIGKILLed when the test ends: `onRan(n)` for each
 * "ran n" line; `exits` records each one's exit (none expected: an unhandled rejection ends a worker).
 */
async function workerProcesses(t: TestContext, prefix: string, onRan: (n: number) => void): Promise<{ exits: string[]; logs: string[] }> {
  const exits: string[] = [];
  // Their log lines (warnings and worse, JSON on stdout beside the "ran" lines), the last 50: for a failure's message.
  const logs: string[] = [];
  await Promise.all([0, 1].map(async () => {
    const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, WORKER_LEASE_MS: '1000', CODA_LOG_LEVEL: 'warn' },
    });
    child.once('exit', (code, signal) => exits.push(`${child.pid} exited ${code ?? signal}`));
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve) => lines.on('line', (line) => {
      const [word, n] = line.split(' ');
      if (word === 'ready') resolve();
      else if (word === 'ran') onRan(Number(n));
      else if (line.startsWith('{') && logs.push(`${child.pid}: ${logged(line)}`) > 50) logs.shift();
    }));
  }));
  return { exits, logs };
}

// This case found a bug (in about one run in two): a claim whose fields Redis never took, the connection lost
// halfway through its pipeline (ioredis resolves such a pipeline, the errors in its replies), was tracked and
// its job's lock renewed forever, so its task never ran.
for (const where of ['this process', 'two worker processes'] as const) {
  test(`Redis going away under load (SIGKILL, started again on the same port), tasks run by ${where}: those registrations get 503 with Retry-After, nothing accepted is lost, and service resumes by itself when Redis returns${where === 'this process' ? '' : '; the workers live on'}`, {
    timeout: 60_000, skip: missing,
  }, async (t) => {
    const prefix = where === 'this process' ? 'going-away' : 'going-away-workers';
    const ran = new Set<number>();
    let wanted = new Set<number>();
    let allRan: () => void = () => {};
    const onRan = (n: number): void => {
      ran.add(n);
      if ([...wanted].every((m) => ran.has(m))) allRan();
    };
    const record = task('record', (payload: { n: number }) => onRan(payload.n));
    const workers = where === 'this process' ? undefined : await workerProcesses(t, prefix, onRan);
    const app = createApp({
      routes: [post('/work/:n', (request) => {
        after(record, { n: Number(request.params.n) });
        return new HttpResponse('accepted', { status: 202 });
      })],
      tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), leaseMs: 1000, pollMs: 50, run: workers === undefined },
    });
    const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
    t.after(() => web.close({ timeoutMs: 1000 }));
    let next = 0;
    const accepted = new Set<number>();
    /** Ten requests at once; returns their statuses, remembering which were accepted. */
    const burst = async (): Promise<Response[]> => Promise.all(Array.from({ length: 10 }, async () => {
      const n = next++;
      const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
      if (response.status === 202) accepted.add(n);
      return response;
    }));

    for (let i = 0; i < 3; i++) assert.deepEqual((await burst()).map(({ status }) => status), Array(10).fill(202));
    await server().kill();
    const refused = await burst();
    assert.deepEqual(refused.map(({ status }) => status), Array(10).fill(503), 'while Redis is away, registrations fail');
    for (const response of refused) {
      assert.match(response.headers.get('retry-after') ?? '', /^\d+$/);
      assert.match(await response.text(), new RegExp(`bullmq store redis://127\\.0\\.0\\.1:\\d+/0 \\(prefix ${prefix}\\) is unavailable`));
    }

    await server().start();
    // The store's connection comes back on its own schedule (it retries every 50 ms, then up to every second), which
    // no event outside it announces: ask again, a bounded number of times, until a registration is accepted.
    let resumed = false;
    for (let attempt = 0; attempt < 100 && !resumed; attempt++) {
      resumed = (await burst()).some(({ status }) => status === 202);
      if (!resumed) await delay(50);
    }
    assert.ok(resumed, 'service resumed once Redis returned');
    for (let i = 0; i < 3; i++) assert.deepEqual((await burst()).map(({ status }) => status), Array(10).fill(202));

    wanted = accepted;
    const done = new Promise<void>((resolve) => { allRan = resolve; });
    if ([...wanted].every((n) => ran.has(n))) allRan();
    // Bounded, so that a lost task fails this case with the list of those missing rather than timing it out.
    await Promise.race([done, delay(20_000, undefined, { ref: false })]);
    assert.deepEqual([...accepted].filter((n) => !ran.has(n)), [], 'every accepted task ran');
    assert.ok(accepted.size >= 60);
    assert.deepEqual(workers?.exits ?? [], [], 'no worker ended (an unhandled rejection would have ended it)');
  });
}

test('the web process killed between a registration and the end of its response: the held job still runs, once its hold expires, within about one and a half leases of the kill, run by a worker already running', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'web-killed';
  const leaseMs = 1000;
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/web.ts', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, CODA_LOG_LEVEL: 'silent', LEASE_MS: String(leaseMs) },
  });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value.split(' ')[1]);
  const request = fetch(`http://127.0.0.1:${port}/slow/7`).catch((error: unknown) => error);
  const id = (await lines.next()).value.split(' ')[1];

  type Run = { id: string; n: number; outcome: unknown; attempt: number };
  let ranWith: (run: Run) => void;
  const ran = new Promise<Run>((resolve) => { ranWith = resolve; });
  const record = task('record', (payload: { n: number }, ctx) => ranWith({ id: ctx.id, n: payload.n, outcome: ctx.outcome, attempt: ctx.attempt }));
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  // Of the same lease as the web process: it sweeps every half lease.
  const worker = await runWorker({ definitions: [record], store, pollMs: 50, leaseMs, handleSignals: false, logger: pino({ level: 'silent' }) });
  t.after(() => worker.close({ timeoutMs: 1000 }));

  const killedAt = performance.now();
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok((await request) instanceof Error, 'the client never got its response');
  assert.deepEqual(await ran, { id, n: 7, outcome: null, attempt: 1 }, 'the held task ran, its outcome unknown (null): it runs whatever its when');
  const took = performance.now() - killedAt;
  t.diagnostic(`ran ${Math.round(took)} ms after the kill`);
  // The hold renewed every third of a lease runs out at most a lease after the kill, found by a sweep every half lease:
  // about one and a half leases (measured 1.0-1.1 s); four allowed, as a loaded machine delays timers (a default
  // 15 s lease would take over 15 s). A live hold is never taken early: holds.test.ts "a live hold is never started …".
  assert.ok(took < 4 * leaseMs, `ran ${Math.round(took)} ms after the kill, lease ${leaseMs} ms: not within a few leases`);
});

test('a task delayed by delayMs outlives the SIGKILL of its worker and of Redis (started again on its AOF): a new worker runs it once, no sooner than its time', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'delayed-restart';
  const record = task('record', () => { throw new Error('this process must not run it'); });
  const app = createApp({ logger: pino({ level: 'silent' }), tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), run: false } });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  const fixture = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
  await assertDelayedOutlivesKill(app, record, 3_000, () => lineWorker(t, fixture, { REDIS_PORT: String(server().port), REDIS_PREFIX: prefix }), async () => {
    await server().kill();
    await server().start();
  });
});

test('a Redis that stops answering (CLIENT PAUSE): a registration gets 503 with Retry-After within the store\'s command timeout, not once Redis answers again', { timeout: 60_000, skip: missing }, async (t) => {
  const record = task('record', () => {});
  const app = createApp({
    logger: pino({ level: 'silent' }),
    routes: [post('/work', () => new HttpResponse('accepted', { status: 202 }).after(record, {}))],
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix: 'paused' }) },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  const admin = new Redis({ port: server().port });
  t.after(async () => {
    await admin.client('UNPAUSE');
    admin.disconnect();
    await web.close({ timeoutMs: 1000 });
  });
  assert.equal((await fetch(`${web.url}/work`, { method: 'POST' })).status, 202);

  const PAUSE_MS = 12_000;
  await admin.client('PAUSE', PAUSE_MS, 'ALL');
  const started = performance.now();
  const refused = await fetch(`${web.url}/work`, { method: 'POST' });
  const waited = performance.now() - started;
  assert.equal(refused.status, 503);
  assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  assert.match(await refused.text(), /bullmq store redis:\/\/127\.0\.0\.1:\d+\/0 \(prefix paused\) is unavailable: Command timed out/);
  assert.ok(waited < PAUSE_MS - 2_000, `answered after ${Math.round(waited)} ms, long before Redis answered again`);
});

test('a Redis frozen (SIGSTOP) under load, then woken (SIGCONT), two worker processes on it: each registration meanwhile gets its 503 within the command timeout, not a hang; after, every accepted task runs, none refused does (undone), and the workers live on', { timeout: 90_000, skip: missing }, async (t) => {
  const prefix = 'frozen-load';
  const ran = new Map<number, number>();
  let ranAll = (): void => {};
  const workers = await workerProcesses(t, prefix, (n) => {
    ran.set(n, (ran.get(n) ?? 0) + 1);
    ranAll();
  });
  const record = task('record', () => { throw new Error('this process must not run it'); });
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger,
    routes: [post('/work/:n', (request) => new HttpResponse('accepted', { status: 202 }).after(record, { n: Number(request.params.n) }))],
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), run: false },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  let webClosed = false;
  t.after(() => webClosed || web.close({ timeoutMs: 1000 }));
  let next = 0;
  const accepted: number[] = [];
  const refused: number[] = [];
  const burst = (): Promise<number[]> => Promise.all(Array.from({ length: 10 }, async () => {
    const n = next++;
    const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
    (response.status === 202 ? accepted : refused).push(n);
    return response.status;
  }));
  assert.deepEqual(await burst(), Array(10).fill(202));

  server().freeze();
  t.after(() => server().thaw());
  const started = performance.now();
  assert.deepEqual(await burst(), Array(10).fill(503), 'while Redis is frozen, registrations fail');
  const waited = performance.now() - started;
  assert.ok(waited < COMMAND_TIMEOUT_MS + 1_000, `answered after ${Math.round(waited)} ms: the command timeout is ${COMMAND_TIMEOUT_MS} ms`);
  server().thaw();
  // The store's connection comes back on its own schedule, which nothing outside it announces: a bounded number of tries.
  let resumed = false;
  for (let attempt = 0; attempt < 100 && !resumed; attempt++) {
    resumed = (await burst()).includes(202);
    if (!resumed) await delay(50);
  }
  assert.ok(resumed, 'service resumed once Redis woke');
  assert.deepEqual(await burst(), Array(10).fill(202));

  // Within a bound past the slowest way an accepted task comes to run after such an outage: its hold recovered once the
  // web process's lease (15 s) runs out. This case failed now and then under load (tasks 38 and 39 of a run, ready and
  // never claimed): a worker connection BullMQ opened as Redis froze failed its version check (an INFO) on the command
  // timeout, and with it, for good, every claim of that worker process (connection.test.ts "a task name's first fetch
  // …"). Should it fail again, the message says where each task was, and what the workers logged.
  await Promise.race([
    new Promise<void>((resolve) => {
      ranAll = () => { if (accepted.every((n) => ran.has(n))) resolve(); };
      ranAll();
    }),
    delay(40_000, undefined, { ref: false }),
  ]);
  const inspect = bullmqStore({ connection: { port: server().port }, prefix });
  await inspect.open();
  t.after(() => inspect.close());
  const notRun = accepted.filter((n) => !ran.has(n));
  // Where each one is, should one be missing: its stored state, and what the web process logged as a warning or worse.
  if (notRun.length > 0) {
    const where = (await inspect.list({ limit: 1_000 })).filter(({ payload }) => notRun.includes((JSON.parse(payload) as { n: number }).n));
    const now = Date.now();
    assert.fail(`accepted, never run: ${JSON.stringify(notRun)}; stored as ${JSON.stringify(where.map(({ payload, state, attempt, owner, leaseUntil, runAt, errors }) => ({
      payload, state, attempt, owner, leaseInMs: leaseUntil === null ? null : leaseUntil - now, runAtInMs: runAt - now, errors: errors.map(({ message }) => message),
    })))}; the web process logged ${JSON.stringify(lines.filter(({ level }) => level >= LEVEL.warn).map(({ msg }) => msg))}; the workers ${JSON.stringify(workers.logs)}`);
  }
  // The web process's store sends what it has left to undo before it closes: then no refused task is left to run.
  webClosed = true;
  await web.close({ timeoutMs: 5_000 });
  const stored = (await inspect.list({ limit: 1_000 })).map(({ payload }) => (JSON.parse(payload) as { n: number }).n);
  assert.deepEqual(refused.filter((n) => stored.includes(n) || ran.has(n)), [], 'no refused task stored or run');
  assert.deepEqual(workers.exits, [], 'no worker ended');
});

test('a process SIGKILLed while it enqueues: every task whose enqueue() resolved runs, by two worker processes', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'enqueuer-killed';
  const ran = new Set<number>();
  let ranAll = (): void => {};
  await workerProcesses(t, prefix, (n) => {
    ran.add(n);
    ranAll();
  });
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/enqueuer.ts', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, CODA_LOG_LEVEL: 'silent' },
  });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const enqueued: number[] = [];
  // 'close': exited, and its stdout read to the end (every line it wrote).
  const closed = once(child, 'close');
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [word, n] = line.split(' ');
    if (word !== 'enqueued') return;
    enqueued.push(Number(n));
    // Killed in the midst of its enqueues: some written, others on their way.
    if (enqueued.length === 200) child.kill('SIGKILL');
  });
  await closed;
  assert.ok(enqueued.length >= 200);
  await new Promise<void>((resolve) => {
    ranAll = () => { if (enqueued.every((n) => ran.has(n))) resolve(); };
    ranAll();
  });
  assert.deepEqual(enqueued.filter((n) => !ran.has(n)), []);
});

/** A held task as a request registers it (Redis tests of the store itself). */
const heldTask = (id: string, key: string | null = null): NewTask => ({
  id, name: 'record', payload: '{}', key, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
  timeoutMs: 1000, held: true, runAt: Date.now(), request: null, trace: null,
});

/** Two stores on `prefix` (the web process's, `store`, and another's), an admin connection, the time, then Redis frozen (SIGSTOP) until the test ends. */
async function frozenStores(t: TestContext, prefix: string): Promise<{ store: TaskStore; other: TaskStore; admin: Redis; now: number }> {
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  const other = bullmqStore({ connection: { port: server().port }, prefix });
  await Promise.all([store.open(), other.open()]);
  // Closed by the test; here too should it fail first (the last to run: after Redis is thawed).
  t.after(() => store.close().catch(() => {}));
  t.after(() => other.close());
  const admin = new Redis({ port: server().port });
  t.after(() => admin.disconnect());
  const now = Date.now();
  server().freeze();
  t.after(() => server().thaw());
  return { store, other, admin, now };
}

test('a registration that timed out on a frozen Redis (SIGSTOP) and ran when Redis woke is undone: its task never runs, its key is free', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'frozen-add';
  const { store, other, admin, now } = await frozenStores(t, prefix);
  // Its 503: the request is told the task was not journaled.
  await assert.rejects(store.add([heldTask('frozen-1', 'user-1')], 'web', now + 1000), (error: unknown) => error instanceof StoreUnavailable && /Command timed out/.test(error.message));
  server().thaw();
  // Redis runs the registration that waited in its socket, then its undo; close() sends what is left to undo first.
  await store.close();
  assert.deepEqual(await admin.keys(`${prefix}:record:frozen-1*`), [], 'no job hash, no log');
  assert.equal(await admin.exists(`${prefix}:record:coda-holds`, `${prefix}:record:de:user-1`), 0, 'no hold, no key');
  assert.deepEqual(await other.recover(now + 60_000, Math.random), { held: 0, running: 0 }, 'nothing for a sweep to run');
  assert.deepEqual(await other.add([heldTask('frozen-2', 'user-1')], 'web', now + 30_000), [{ id: 'frozen-2', duplicate: false }]);
});

test('on a Redis frozen long under load, the registrations kept to undo stop at a bound: one past it is refused saying it is not undone, and its held task runs once its hold expires', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'frozen-bound';
  const { store, other, admin, now } = await frozenStores(t, prefix);
  // A registration of as many tasks as the bound (one is kept whatever its size), then one more.
  const many = Array.from({ length: MAX_UNDO_TASKS }, (_, i) => heldTask(`many-${i}`));
  await assert.rejects(store.add(many, 'web', now + 1000), (error: unknown) => error instanceof StoreUnavailable && /Command timed out: add\(\) had no answer from Redis within 3000 ms \(the store's commandTimeoutMs\), counted from the call$/.test(error.message));
  await assert.rejects(store.add([heldTask('past')], 'web', now + 1000), (error: unknown) => error instanceof StoreUnavailable
    && /counted from the call; not undone, as many tasks of failed registrations as are kept \(10000\) already wait to be: should Redis still carry it out, its held tasks run once their holds expire/.test(error.message));
  server().thaw();
  await store.close();
  assert.equal(await admin.exists(`${prefix}:record:many-0`, `${prefix}:record:many-${MAX_UNDO_TASKS - 1}`), 0, 'the registration within the bound undone');
  assert.notEqual(await admin.zscore(`${prefix}:record:coda-holds`, 'past'), null, 'the one past it carried out, held');
  assert.deepEqual(await other.recover(now + 60_000, Math.random), { held: 1, running: 0 }, 'its hold expired: recovered to run');
});

test('a registration that reaches Redis only after its undo (a frozen Redis waking, ioredis resending it) writes nothing: no job, no key, nothing held', { skip: missing }, async (t) => {
  const prefix = 'undone-first';
  const queue = `${prefix}:record:`;
  const client = new Redis({ port: server().port });
  t.after(() => client.disconnect());
  defineScripts(client);
  const undos = new Undos(client, prefix);
  const token = randomUUID();
  undos.add(token, [{ queue, id: 'late-1', key: 'user-1', held: true }]);
  assert.deepEqual(await undos.close(performance.now() + 10_000), [], 'the undo taken');
  // The registration as the store sends it (scripts.ts, ADD): the store's keys, then one held task, then its name.
  const now = Date.now();
  const reply = await runScript(client, 'add', [`${prefix}:coda-names`, undos.markOf(token), `${queue}late-1`], [
    now + 30_000, 1, token, queue, 'late-1', 'record', '{}', '{}', now, 'user-1', 'record',
  ]);
  assert.deepEqual(reply, [-1], 'told it was undone');
  assert.deepEqual(await client.keys(`${prefix}:*`), [undos.markOf(token)], 'no job hash, no hold, no key, no name: the undo mark alone');
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  assert.deepEqual(await store.recover(now + 60_000, Math.random), { held: 0, running: 0 }, 'nothing for a sweep to run');
  assert.deepEqual(await store.add([heldTask('late-2', 'user-1')], 'web', now + 30_000), [{ id: 'late-2', duplicate: false }], 'the key is free');
});

test('the undo of a registration of 100,000 ready tasks still waiting takes Redis moments, not minutes (Redis busy for all its clients meanwhile): each job is found at the head of its list', { timeout: 60_000, skip: missing }, async (t) => {
  // A Redis of its own, without persistence: before the fix it stayed busy running the undo for many minutes.
  const redis = await startRedis();
  t.after(() => redis.stop());
  const prefix = 'undo-flood';
  const store = bullmqStore({ connection: { port: redis.port }, prefix });
  await store.open();
  t.after(() => store.close());
  const tasks = Array.from({ length: 100_000 }, (_, i) => ({ ...heldTask(`flood-${i}`), held: false }));
  await store.add(tasks, 'web', Date.now() + 30_000);
  // The registration as a timed-out one is undone (see Undos): every task, in the order added, and one never written.
  const client = new Redis({ port: redis.port });
  t.after(() => client.disconnect());
  defineScripts(client);
  const undos = new Undos(client, prefix);
  undos.add(randomUUID(), [...tasks, heldTask('never-written')].map(({ id, key, held }) => ({ queue: `${prefix}:record:`, id, key, held })));
  assert.deepEqual(await undos.close(performance.now() + 20_000), [], 'the undo taken within 20 s');
  assert.deepEqual([await client.llen(`${prefix}:record:wait`), await client.exists(`${prefix}:record:flood-0`, `${prefix}:record:flood-99999`)], [0, 0]);
});

test('close() on a frozen Redis (SIGSTOP) ends by its deadline: the connections cut, and its error says what it gave up', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'frozen-close';
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  const now = Date.now();
  await store.add([{ ...heldTask('running-1'), held: false }], 'worker', now + 30_000);
  assert.equal((await store.claim({ owner: 'worker', names: ['record'], concurrency: {}, limit: 1, now, leaseUntil: now + 30_000 })).length, 1);
  server().freeze();
  t.after(() => server().thaw());
  await assert.rejects(store.add([heldTask('frozen-3')], 'web', now + 30_000), StoreUnavailable);
  const started = performance.now();
  await assert.rejects(store.close(started + 500), (error: unknown) => {
    assert.ok(error instanceof StoreUnavailable);
    assert.match(error.message, /Redis did not answer by the close's deadline: gave up 1 failed registration\(s\) to undo .* and closing 2 BullMQ worker\(s\) and queue\(s\)/);
    return true;
  });
  const took = performance.now() - started;
  // Well under the store's 3 s command timeout (what it would take without the deadline), with room for a loaded machine's timers.
  assert.ok(took < 2000, `close took ${Math.round(took)} ms for a deadline 500 ms away`);
});

/**
 * A worker on `redis` running a task that waits for shutdown, then `cut` (Redis stops answering), then the worker
 * closed with a deadline 300 ms away: how long the close took, and the tasks it left in the store.
 */
async function closedCut(t: TestContext, redis: RedisServer, prefix: string, cut: () => unknown, { leaseMs, maxAttempts = 1 }: { leaseMs?: number; maxAttempts?: number } = {}): Promise<{ took: number; left: string[] }> {
  let startedWith: () => void;
  const started = new Promise<void>((resolve) => { startedWith = resolve; });
  // Runs until shutdown aborts it: the worker must give it back to a store that no longer answers.
  const record = task('record', (_payload: unknown, ctx) => new Promise<void>((_resolve, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
    startedWith();
  }));
  const store = bullmqStore({ connection: { port: redis.port }, prefix });
  const worker = await runWorker({ definitions: [record], store, pollMs: 50, handleSignals: false, logger: pino({ level: 'silent' }), ...leaseMs === undefined ? {} : { leaseMs } });
  const producer = bullmqStore({ connection: { port: redis.port }, prefix });
  await producer.open();
  t.after(() => producer.close().catch(() => {}));
  await producer.add([{ ...heldTask(`${prefix}-running`), held: false, maxAttempts }], 'web', Date.now() + 30_000);
  await started;
  await cut();
  const closing = performance.now();
  const left = await worker.close({ timeoutMs: 300 });
  return { took: performance.now() - closing, left: left.map(({ id }) => id) };
}

test('a worker closed on a frozen Redis (SIGSTOP) with a task still running returns within its deadline and a short grace, not after the store\'s command timeouts', { timeout: 60_000, skip: missing }, async (t) => {
  const { took, left } = await closedCut(t, server(), 'frozen-worker', () => {
    server().freeze();
    t.after(() => server().thaw());
  });
  assert.deepEqual(left, ['frozen-worker-running'], 'the running task is reported as left in the store');
  // 300 ms of deadline, then at most the 1 s grace for the give-back; the store's 3 s command timeout would show.
  assert.ok(took < 2000, `close took ${Math.round(took)} ms for a deadline 300 ms away`);
});

test('a worker closed on a frozen Redis (SIGSTOP) leaves its running task to its lease, as a dead process would: once Redis wakes, another worker recovers it within about a lease and a half, the attempt cut short charged as a stall', { timeout: 30_000, skip: missing }, async (t) => {
  const leaseMs = 1000;
  const { left } = await closedCut(t, server(), 'frozen-left', () => server().freeze(), { leaseMs, maxAttempts: 2 });
  server().thaw();
  const woke = performance.now();
  assert.deepEqual(left, ['frozen-left-running'], 'reported as left in the store');
  const ran = deferred<{ attempt: number; errors: string[] }>();
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'frozen-left' });
  const record = task('record', async (_payload: unknown, ctx) => {
    const stored = await store.get(ctx.id);
    ran.resolve({ attempt: ctx.attempt, errors: stored!.errors.map(({ attempt, message }) => `${attempt} ${message.split(':')[0]}`) });
  });
  const worker = await runWorker({ definitions: [record], store, pollMs: 50, leaseMs, handleSignals: false, logger: pino({ level: 'silent' }) });
  t.after(() => worker.close({ timeoutMs: 1000 }));
  // Its give-back never reached Redis: the claim's attempt stands, and its end is a stall's.
  assert.deepEqual(await ran.promise, { attempt: 2, errors: ['1 stalled'] });
  const took = performance.now() - woke;
  // About one and a half leases; four allowed for a loaded machine.
  assert.ok(took < 4 * leaseMs, `recovered ${Math.round(took)} ms after Redis woke, lease ${leaseMs} ms`);
});

test('a worker closed on a Redis gone for good (killed, not started again: BullMQ\'s "should close worker even if redis is down") with a task still running returns within its deadline and a short grace', { timeout: 60_000, skip: missing }, async (t) => {
  const redis = await startRedis();
  // Stopped after its kill: stop() of a server killed before waited for ever for an exit that had come.
  t.after(() => redis.stop());
  const { took, left } = await closedCut(t, redis, 'gone-worker', () => redis.kill());
  assert.deepEqual(left, ['gone-worker-running'], 'the running task is reported as left in the store');
  assert.ok(took < 2000, `close took ${Math.round(took)} ms for a deadline 300 ms away`);
});

test('a worker whose Redis freezes (SIGSTOP) as a task ends, past the store\'s command timeout, and wakes: the completion is written again and recorded once, as attempt 1, and the worker takes the next task (BullMQ\'s "should handle jobs added before and after a redis disconnect")', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'frozen-end';
  const runs: string[] = [];
  const [started, ended, second] = [deferred(), deferred(), deferred()];
  const work = task('record', async (payload: { n: number }, ctx) => {
    runs.push(`${payload.n} attempt ${ctx.attempt}`);
    if (payload.n === 2) return second.resolve();
    started.resolve();
    await ended.promise;
  });
  const { logger, lines } = memoryLogger();
  const completionRefused = deferred();
  const store = hearingRefusals({ connection: { port: server().port }, prefix }, ['complete', 'completeAndClaim'], () => completionRefused.resolve());
  const worker = await runWorker({ definitions: [work], store, pollMs: 50, handleSignals: false, logger });
  t.after(() => worker.close({ timeoutMs: 1_000 }));
  const producer = bullmqStore({ connection: { port: server().port }, prefix });
  await producer.open();
  t.after(() => producer.close());
  const ready = (id: string, n: number): NewTask => ({ ...heldTask(id), payload: JSON.stringify({ n }), held: false, timeoutMs: 60_000 });
  await producer.add([ready('first', 1)], 'web', Date.now() + 30_000);
  await started.promise;
  server().freeze();
  t.after(() => server().thaw());
  ended.resolve();
  // The completion's write times out unanswered (3 s), and is written again: woken only once it was refused (heard through the store).
  await completionRefused.promise;
  assert.ok(lines.some(({ level, msg }) => level === LEVEL.error && /^durable task calls to the .* refused: /.test(String(msg))), 'the store\'s outage is logged');
  server().thaw();
  await producer.add([ready('second', 2)], 'web', Date.now() + 30_000);
  await second.promise;
  const first = await producer.get('first');
  assert.deepEqual([first?.state, first?.attempt, first?.errors], ['completed', 1, []]);
  assert.deepEqual(runs, ['1 attempt 1', '2 attempt 1'], 'each ran once');
});

test('leases are judged on Redis\'s clock: a process whose clock is a minute behind keeps its hold and its running task from a process with the right time until its lease has run out', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = 'skewed-clock';
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('./fixtures/skewed-clock.ts', import.meta.url))], {
    env: { ...process.env, REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, CLOCK_SKEW_MS: '60000', LEASE_MS: '30000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const said = createInterface({ input: child.stdout! });
  const lines: string[] = [];
  said.on('line', (line) => lines.push(line));
  const [[code]] = await Promise.all([once(child, 'exit'), once(said, 'close')]);
  assert.equal(code, 0);
  assert.deepEqual(lines, ['claimed running']);
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  // By this clock its leases ended 30 s ago; by its own (and Redis's), they last 30 s more.
  assert.deepEqual(await store.recover(Date.now(), Math.random), { held: 0, running: 0 }, 'neither taken from a live process');
  assert.deepEqual((await store.list({})).map(({ id, state }) => `${id} ${state}`).sort(), ['held held', 'running running']);
  // Read back on this process's clock: 30 s from now.
  const held = await store.get('held');
  assert.ok(Math.abs(held!.leaseUntil! - (Date.now() + 30_000)) < 5_000, `lease read back ${held!.leaseUntil! - Date.now()} ms from now`);
  // Once the lease has run out, both are recovered.
  assert.deepEqual(await store.recover(Date.now() + 31_000, Math.random), { held: 1, running: 1 });
});

test('a registration Redis refused as out of memory is not undone: Redis answered that it wrote nothing, so there is nothing to undo, now or once it has room', { timeout: 30_000, skip: missing }, async (t) => {
  const admin = new Redis({ port: server().port });
  t.after(() => admin.disconnect());
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'out-of-memory' });
  await store.open();
  await admin.config('SET', 'maxmemory', '1');
  try {
    // Another store opens on the full Redis (its epoch key, out-of-memory-late:coda-epoch, not written): its workers would drain it.
    const late = bullmqStore({ connection: { port: server().port }, prefix: 'out-of-memory-late' });
    await late.open();
    await late.close();
    const now = Date.now();
    const held: NewTask = {
      id: 'refused', name: 'send', payload: '{}', key: null, when: 'success', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: true, runAt: now, request: null, trace: null,
    };
    await assert.rejects(store.add([held], 'web', now + 30_000), (error: unknown) => error instanceof StoreUnavailable && /OOM command not allowed/.test(error.message));
    // An undo pending (Redis full refuses it too) would be given up here, and the close would say so.
    await store.close(performance.now() + 500);
  } finally {
    await admin.config('SET', 'maxmemory', '0');
  }
  // The epoch key written at open (see store.test.ts "a late completion …") and nothing else.
  assert.deepEqual(await admin.keys('out-of-memory*'), ['out-of-memory:coda-epoch'], 'no undo mark, nothing else');
});

test('ready tasks Redis refused as out of memory halfway through their registration (BullMQ adds them one script each, not as one transaction) are undone once it has room: none of them runs', { timeout: 30_000, skip: missing }, async (t) => {
  const admin = new Redis({ port: server().port });
  t.after(() => admin.disconnect());
  const prefix = 'oom-halfway';
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  // Closed even when an assertion fails first: its connections would hold the test file's process open.
  let closed = false;
  t.after(() => (closed ? undefined : store.close()));
  await store.open();
  const now = Date.now();
  // More than one of the store's addBulk calls (5,000 jobs each, one after another): Redis is full from the second
  // on, the first written whole. (Redis filled by the sizes of the writes themselves refused the first task on a quiet
  // machine, where every command arrived before the first ran: no halfway write, and the case skipped.)
  const tasks = Array.from({ length: 6_000 }, (_, i): NewTask => ({ ...heldTask(`half-${i}`), held: false }));
  const addBulk = Queue.prototype.addBulk;
  let bulks = 0;
  Queue.prototype.addBulk = async function (this: Queue, ...args: Parameters<Queue['addBulk']>) {
    if (++bulks === 2) await admin.config('SET', 'maxmemory', '1');
    return addBulk.apply(this, args);
  };
  try {
    await assert.rejects(store.add(tasks, 'web', now + 30_000), (error: unknown) => error instanceof StoreUnavailable && /OOM command not allowed/.test(error.message));
    assert.equal(await admin.llen(`${prefix}:record:wait`), 5_000, 'written halfway: the first addBulk whole, none of the second');
  } finally {
    Queue.prototype.addBulk = addBulk;
    await admin.config('SET', 'maxmemory', '0');
  }
  // The undo, refused while Redis was full, is taken once it has room (close() waits for it).
  closed = true;
  await store.close();
  assert.deepEqual(await admin.lrange(`${prefix}:record:wait`, 0, -1), [], 'none of the registration\'s tasks left to run');
  assert.equal(await admin.exists(`${prefix}:record:half-0`, `${prefix}:record:half-4999`), 0, 'nor their jobs');
});

test('a Redis that cannot save to its disk (its snapshot failed: MISCONF, as stop-writes-on-bgsave-error has it) refuses writes: a registration gets 503 saying the store is unavailable, the runner\'s refused claims are an outage logged once, not an error line a poll, and service resumes by itself once Redis takes writes again', { timeout: 30_000, skip: missing }, async (t) => {
  // A Redis of its own: its folder is removed under it.
  const redis = await startRedis();
  t.after(() => redis.stop());
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  const ran = new Map<number, () => void>();
  const record = task('record', ({ n }: { n: number }) => ran.get(n)?.());
  const errors: string[] = [];
  const claimsRefused = deferred();
  const store = hearingRefusals({ connection: { port: redis.port }, prefix: 'misconf' }, 'claim', (error) => {
    if (/MISCONF/.test(String(error))) claimsRefused.resolve();
  });
  const app = createApp({
    routes: [post('/work/:n', (request) => {
      after(record, { n: Number(request.params.n) });
      return new HttpResponse('accepted', { status: 202 });
    })],
    tasks: { definitions: [record], store, pollMs: 50 },
    logger: pino({ level: 'error' }, new Writable({
      write(chunk: Buffer, _encoding, done) {
        errors.push(String(chunk));
        done();
      },
    })),
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  const work = async (n: number): Promise<Response> => {
    const done = new Promise<void>((resolve) => ran.set(n, resolve));
    const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
    if (response.status === 202) await done;
    return response;
  };
  assert.equal((await work(1)).status, 202);

  const [, dir] = (await admin.config('GET', 'dir')) as [string, string];
  await admin.config('SET', 'save', '3600 1');
  rmSync(dir, { recursive: true });
  await failedSnapshot(admin);
  const refused = await work(2);
  const body = await refused.text();
  assert.equal(refused.status, 503, body);
  assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  assert.match(body, /bullmq store redis:\/\/127\.0\.0\.1:\d+\/0 \(prefix misconf\) is unavailable: MISCONF/);
  // The runner's claims, every pollMs, are refused too: one outage with the registration's, one line, where each refusal was an error line of its own.
  await claimsRefused.promise;
  const said = errors.map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, new RegExp(`^durable task calls to the ${store.description.replace(/[.()]/g, '\\$&')} refused: .*MISCONF`));

  // Redis's working folder is the removed one for good (a new one at its path is another): the operator lets it take writes again.
  await admin.config('SET', 'stop-writes-on-bgsave-error', 'no');
  assert.equal((await work(3)).status, 202, 'service resumed, the task run');
});

/** Starts a snapshot that fails (its folder removed) and waits, a bounded number of looks, for Redis to have seen it fail. */
async function failedSnapshot(admin: Redis): Promise<void> {
  await admin.bgsave();
  for (let look = 0; look < 200; look++) {
    const info = await admin.info('persistence');
    if (info.includes('rdb_bgsave_in_progress:0') && info.includes('rdb_last_bgsave_status:err')) return;
    await delay(25);
  }
  throw new Error('Redis\'s snapshot had not failed within 5 s');
}

test('a worker whose Redis has gone away logs the outage once, not a line per sweep: its heartbeat, with nothing to renew, is not taken for Redis being back', { timeout: 30_000, skip: missing }, async () => {
  let refused = 0;
  const tenRefused = deferred();
  // The worker's recovery sweeps that Redis refuses, counted.
  const store = hearingRefusals({ connection: { port: server().port }, prefix: 'worker-outage' }, 'recover', () => {
    if (++refused === 10) tenRefused.resolve();
  });
  const { logger, lines } = memoryLogger();
  const worker = await runWorker({
    definitions: [task('idle', () => {})], store, logger, handleSignals: false, leaseMs: 150, pollMs: 50,
  });
  await server().kill();
  try {
    await tenRefused.promise;
    const said = lines.filter((line) => line.level >= LEVEL.warn).map((line) => line.msg!);
    assert.equal(said.length, 1, `one line for ten refused sweeps: ${said.join(' | ')}`);
    assert.match(said[0]!, /^durable task calls to the bullmq store .* refused: (?!.*is unavailable)/);
  } finally {
    await server().start();
    await worker.close({ timeoutMs: 1_000 });
  }
});
