import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { createApp, get, HttpResponse, post, runWorker, sqliteStore, StoreUnavailable, task, type NewTask, type TaskStore } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { deferred } from '../helpers.js';

/**
 * Holds the event loop open until the test ends: the runner's timers do not
 * (a worker is held by its store, a server by its socket), and on Node 22 a
 * test awaiting only them ends with its promise still pending.
 */
function holdLoop(t: { after: (fn: () => void) => void }): void {
  const held = setInterval(() => {}, 60_000);
  t.after(() => clearInterval(held));
}

/** A pino logger whose `err` serializer throws: every line carrying an error throws in the caller. */
function throwingSerializer(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, callback) { lines.push(chunk.toString('utf8')); callback(); } });
  const logger = pino({ level: 'debug', serializers: { err: () => { throw new Error('the err serializer threw'); } } }, stream);
  return { logger, lines };
}

test('a logger whose err serializer throws as the runner logs an attempt\'s failure: the failure is still written (retried, then failed for good), not left running to stall', async () => {
  const { logger, lines } = throwingSerializer();
  const fails = task('fails', () => { throw new Error('boom'); }, { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } });
  const app = createApp({ logger, tasks: { definitions: [fails] } });
  await using client = createTestClient(app);
  const { id } = await app.tasks.enqueue(fails, {});
  await client.settle();
  const stored = await app.tasks.get(id);
  assert.equal(stored?.state, 'failed');
  assert.deepEqual(stored?.errors.map(({ attempt, message }) => [attempt, message]), [[1, 'Error: boom'], [2, 'Error: boom']]);
  assert.deepEqual(client.tasks.map(({ attempt, state }) => [attempt, state]), [[1, 'retrying'], [2, 'failed']]);
  // The line is still written, without the fields that could not be serialized.
  assert.ok(lines.some((line) => line.includes('durable task fails failed for good')), lines.join(''));
});

/** A pino logger whose `level` lines throw (a logger object whose method throws), `called` told of each; the others are dropped. */
function throwingAt(level: 'warn' | 'error', called: (message: string) => void = () => {}): { logger: Logger } {
  const logger = pino({ level: 'silent' });
  logger[level] = ((_fields: object, message: string) => {
    called(message);
    throw new Error(`the logger's ${level} threw`);
  }) as unknown as Logger['warn'];
  return { logger };
}

/** A ready task as the app journals one, for a store written directly. */
function readyTask(name: string, overrides: Partial<NewTask> = {}): NewTask {
  return {
    id: randomUUID(), name, payload: '{}', key: null, when: 'always', maxAttempts: 3, backoff: { type: 'fixed', delayMs: 0 },
    timeoutMs: 10_000, held: false, runAt: Date.now(), request: null, trace: null, ...overrides,
  };
}

/** `store` with some of its methods replaced (a Proxy: the store's private fields stay its own). */
function overriding(store: TaskStore, methods: Partial<TaskStore>): TaskStore {
  return new Proxy(store, {
    get(target, key) {
      const own = (methods as Record<PropertyKey, unknown>)[key];
      if (own !== undefined) return own;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

test('a logger whose warn throws as a worker\'s claims are accepted again after an outage (the "accepted again" line): the tasks that claim took still run, not left running to stall', { timeout: 10_000 }, async (t) => {
  const { logger } = throwingAt('warn');
  const inner = sqliteStore({ path: ':memory:' });
  let refusals = 0;
  // The worker's first claim is refused (the store unavailable): the next, which takes the task, ends that outage.
  const store = overriding(inner, {
    claim: (request) => (refusals++ === 0 ? Promise.reject(new StoreUnavailable(inner.description, new Error('locked'))) : inner.claim(request)),
  });
  const ran = deferred();
  const job = task('job', () => ran.resolve());
  await inner.open();
  await inner.add([readyTask('job')], 'app', Date.now());
  const worker = await runWorker({ definitions: [job], store, logger, handleSignals: false, pollMs: 20, leaseMs: 60_000 });
  t.after(() => worker.close({ timeoutMs: 0 }));
  await ran.promise;
  assert.ok(refusals >= 2, 'a claim was refused before the one that took the task');
});

test('a logger whose warn throws as a worker recovers a dead process\'s task ("recovered durable tasks …"): the task is claimed at once, not a poll later', { timeout: 10_000 }, async (t) => {
  const { logger } = throwingAt('warn');
  const store = sqliteStore({ path: ':memory:' });
  const ran = deferred();
  const job = task('job', () => ran.resolve());
  // A poll a minute away: only the recovery's own claim can run the task within the test.
  const worker = await runWorker({ definitions: [job], store, logger, handleSignals: false, pollMs: 60_000, leaseMs: 200 });
  t.after(() => worker.close({ timeoutMs: 0 }));
  // A held task of a process that died: its lease ran out, the next recovery pass (every 100 ms) makes it ready.
  await store.add([readyTask('job', { held: true })], 'dead process', Date.now() - 1);
  await ran.promise;
});

test('a logger whose error throws as shutdown logs that the store would not take running tasks back: close() still resolves with the tasks left in the store', async () => {
  const { logger } = throwingAt('error');
  const inner = sqliteStore({ path: ':memory:' });
  const store = overriding(inner, { giveBack: () => Promise.reject(new Error('giveBack refused')) });
  const started = deferred();
  const job = task('job', (_payload, ctx) => {
    started.resolve();
    return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
  });
  await inner.open();
  const added = readyTask('job');
  await inner.add([added], 'app', Date.now());
  const worker = await runWorker({ definitions: [job], store, logger, handleSignals: false, pollMs: 20, leaseMs: 60_000 });
  await started.promise;
  const left = await worker.close({ timeoutMs: 0 });
  assert.deepEqual(left.map(({ id }) => id), [added.id]);
});

test('a logger whose warn throws as the store takes registrations again after refusing one ("accepted again"): the request\'s task is journaled and its response sent, not left waiting for good', { timeout: 10_000 }, async () => {
  const { logger } = throwingAt('warn');
  const inner = sqliteStore({ path: ':memory:' });
  let adds = 0;
  const store = overriding(inner, {
    add: (tasks, owner, leaseUntil) => (adds++ === 0 ? Promise.reject(new StoreUnavailable(inner.description, new Error('locked'))) : inner.add(tasks, owner, leaseUntil)),
  });
  const job = task('job', () => {});
  const app = createApp({ logger, tasks: { definitions: [job], store }, routes: [post('/jobs', () => new HttpResponse('queued').after(job, {}))] });
  await using client = createTestClient(app, { tasks: 'app' });
  assert.equal((await client.post('/jobs')).status, 503);
  assert.equal((await client.post('/jobs')).status, 200);
  await client.settle();
  assert.equal((await app.tasks.stats()).completed, 1);
});

test('a logger whose warn throws as the runner warns of an attempt that ignores its signal past its timeout (from a timer): no uncaught exception; the attempt keeps its slot until it settles, its task retried', { timeout: 10_000 }, async (t) => {
  holdLoop(t);
  const warned = deferred();
  const { logger } = throwingAt('warn', (message) => { if (message.includes('did not stop at its timeout')) warned.resolve(); });
  const gate = deferred();
  let calls = 0;
  const hangs = task('hangs', async () => {
    // The first attempt ignores its signal, and settles only once the warning was tried.
    if (++calls === 1) await gate.promise;
  }, { attempts: 2, timeoutMs: 20, backoff: { type: 'fixed', delayMs: 0 } });
  const app = createApp({ logger, tasks: { definitions: [hangs] } });
  await using client = createTestClient(app);
  const { id } = await app.tasks.enqueue(hangs, {});
  await warned.promise;
  gate.resolve();
  await client.settle();
  assert.deepEqual([(await app.tasks.get(id))?.state, calls], ['completed', 2]);
});

test('a logger whose error throws as a serving app logs that its store cannot be opened: it still tries again, opens it and runs what waits there (the throw ended its retries, and was an unhandled rejection)', { timeout: 10_000 }, async (t) => {
  const { logger } = throwingAt('error');
  const inner = sqliteStore({ path: ':memory:' });
  await inner.open();
  await inner.add([readyTask('job')], 'script', Date.now());
  let opens = 0;
  const store = overriding(inner, {
    open: () => (opens++ === 0 ? Promise.reject(new StoreUnavailable(inner.description, new Error('not up yet'))) : inner.open()),
  });
  const ran = deferred();
  const job = task('job', () => ran.resolve());
  const app = createApp({ logger, tasks: { definitions: [job], store, pollMs: 10 }, routes: [get('/', () => new HttpResponse('up'))] });
  t.after(() => app.tasks.close(performance.now() + 1_000));
  // A serving process's socket holds its event loop; app.fetch() has none, and the store's retry timer does not.
  holdLoop(t);
  assert.equal((await app.fetch(new Request('http://app.test/'))).status, 200);
  await ran.promise;
  assert.ok(opens >= 2);
});

test('a logger whose error throws as a worker logs that its store did not close cleanly: close() still resolves (it rejected, and a signal\'s exit said the shutdown failed)', { timeout: 10_000 }, async () => {
  const { logger } = throwingAt('error');
  const inner = sqliteStore({ path: ':memory:' });
  const store = overriding(inner, { close: () => Promise.reject(new Error('close refused')) });
  const worker = await runWorker({ definitions: [task('job', () => {})], store, logger, handleSignals: false });
  assert.deepEqual(await worker.close({ timeoutMs: 0 }), []);
  await inner.close();
});
