// Redis restarted without persistence (no AOF, no RDB: SIGKILLed and started
// again on the same port, its data gone) while a web process registers tasks
// and a worker runs them. Neither crashes; registrations made while Redis is
// away get 503; once it is back they are accepted again by themselves, and the
// worker runs them: what was journaled before the restart is what a Redis
// without persistence loses (docs/bullmq.md, "Persistence"), and a task held
// by a response still being sent is logged by id as lost when it is done.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { after, createApp, get, HttpResponse, post, runWorker, serve, StoreUnavailable, StreamingResponse, task, type NewTask, type TaskRegistration } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { LEVEL, memoryLogger } from '../helpers.js';
import { startRedis, useRedis } from './redis-server.js';

// Not persistent: a restart empties it.
const { missing, server } = useRedis();

test('Redis restarted with its data gone under load: neither the web process nor the worker crashes, registrations resume by themselves, and the worker runs them', { timeout: 60_000, skip: missing }, async (t) => {
  const ran = new Set<number>();
  const waiting = new Map<number, () => void>();
  const record = task('record', (payload: { n: number }) => {
    ran.add(payload.n);
    waiting.get(payload.n)?.();
  });
  const prefix = 'restarted';
  const logger = pino({ level: 'silent' });
  const app = createApp({
    logger,
    routes: [post('/work/:n', (request) => {
      after(record, { n: Number(request.params.n) });
      return new HttpResponse('accepted', { status: 202 });
    })],
    // The web process journals (and runs some itself); the worker runs the rest.
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), leaseMs: 1000, pollMs: 50 },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  const worker = await runWorker({ definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), pollMs: 50, leaseMs: 1000, handleSignals: false, logger });
  t.after(() => worker.close({ timeoutMs: 1000 }));

  let next = 0;
  /** Ten requests at once; the numbers of those accepted, once each has run. */
  const burst = async (): Promise<{ statuses: number[]; accepted: number[] }> => {
    const results = await Promise.all(Array.from({ length: 10 }, async () => {
      const n = next++;
      const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
      await response.text();
      return { n, status: response.status };
    }));
    return { statuses: results.map((r) => r.status), accepted: results.filter((r) => r.status === 202).map((r) => r.n) };
  };
  /** Resolves once every task of `numbers` has run, or fails naming those that did not within the bound. */
  const allRun = async (numbers: number[]): Promise<void> => {
    const pending = numbers.filter((n) => !ran.has(n)).map((n) => new Promise<void>((resolve) => waiting.set(n, resolve)));
    await Promise.race([Promise.all(pending), delay(20_000, undefined, { ref: false })]);
    assert.deepEqual(numbers.filter((n) => !ran.has(n)), [], 'every accepted task ran');
  };

  const before = await burst();
  assert.deepEqual(before.statuses, Array(10).fill(202));
  await allRun(before.accepted);

  await server().kill();
  const away = await burst();
  assert.deepEqual(away.statuses, Array(10).fill(503), 'while Redis is away, registrations are refused');
  await server().start();

  // The store's connection comes back on its own schedule (retries every 50 ms, then up to every second):
  // ask again, a bounded number of times, until a registration is accepted.
  let resumed: number[] = [];
  for (let attempt = 0; attempt < 100 && resumed.length === 0; attempt++) {
    resumed = (await burst()).accepted;
    if (resumed.length === 0) await delay(50);
  }
  assert.ok(resumed.length > 0, 'registrations resumed once Redis returned, empty');
  const after2 = await burst();
  assert.deepEqual(after2.statuses, Array(10).fill(202));
  await allRun([...resumed, ...after2.accepted]);
});

test('a task held by a response still being sent when Redis restarts without its data: once the response is done, an error names it as lost', { timeout: 30_000, skip: missing }, async (t) => {
  const record = task('record', () => {});
  const { logger, lines } = memoryLogger();
  let registered: Promise<TaskRegistration> | undefined;
  let finish!: () => void;
  const finishing = new Promise<void>((resolve) => { finish = resolve; });
  const app = createApp({
    logger,
    routes: [get('/held', () => {
      registered = after(record, {});
      return new StreamingResponse((async function* () {
        yield 'started\n';
        await finishing;
        yield 'done\n';
      })());
    })],
    // A long lease: no sweep recovers the hold meanwhile.
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix: 'lost-hold' }), leaseMs: 60_000, pollMs: 50 },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  const response = await fetch(`${web.url}/held`);
  const reader = response.body!.getReader();
  // The first byte waited for the task to be journaled.
  assert.match(new TextDecoder().decode((await reader.read()).value), /started/);
  const { id } = await registered!;
  await server().kill();
  await server().start();
  finish();
  while (!(await reader.read()).done);
  // The release is written again until Redis is back, then finds the task gone.
  await app.settle();
  const lost = lines.find((line) => line.level === LEVEL.error && Array.isArray(line.taskIds));
  assert.ok(lost !== undefined, `an error line names the lost task; the log said:\n${lines.map((line) => line.msg).join('\n')}`);
  assert.deepEqual(lost.taskIds, [id]);
  assert.match(lost.msg!, /1 held durable task\(s\) were gone from the .* when their response was done \(the store lost its data, or a tool removed them\): they will not run/);
});

test('a task\'s concurrency still holds after Redis restarts without its data: its queue\'s cap is written again, not remembered as written', { timeout: 30_000, skip: missing }, async (t) => {
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'cap-restart' });
  await store.open();
  t.after(() => store.close());
  const ready = (id: string): NewTask => ({
    id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
    timeoutMs: 1000, held: false, runAt: Date.now(), request: null, trace: null,
  });
  const claim = () => {
    const now = Date.now();
    return store.claim({ owner: 'me', names: ['send'], concurrency: { send: 1 }, limit: 5, now, leaseUntil: now + 30_000 });
  };
  await store.add([ready('before-1'), ready('before-2')], 'me', Date.now() + 30_000);
  assert.equal((await claim()).length, 1);
  await server().kill();
  await server().start();
  // The store's connection comes back on its own schedule, which no event outside it announces: a bounded number of tries.
  let added = false;
  for (let attempt = 0; attempt < 100 && !added; attempt++) {
    try {
      await store.add([ready('after-1'), ready('after-2'), ready('after-3')], 'me', Date.now() + 30_000);
      added = true;
    } catch (error) {
      if (!(error instanceof StoreUnavailable)) throw error;
      await delay(50);
    }
  }
  assert.ok(added, 'Redis took tasks again');
  assert.equal((await claim()).length, 1, 'one at a time, as the task says, though Redis forgot the cap');
});

test('Redis flushed while tasks run: the completion and the failure it cannot record are logged as the job gone from Redis, not as a lease that ran out', { timeout: 30_000, skip: missing }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const { logger, lines } = memoryLogger();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const started = new Set<string>();
  let bothStarted!: () => void;
  const running = new Promise<void>((resolve) => {
    bothStarted = resolve;
  });
  const wait = async (name: string): Promise<void> => {
    started.add(name);
    if (started.size === 2) bothStarted();
    await gate;
  };
  const finishes = task('finishes', () => wait('finishes'));
  const throws = task('throws', async () => {
    await wait('throws');
    throw new Error('declined');
  }, { attempts: 1 });
  const app = createApp({ logger, tasks: { definitions: [finishes, throws], store: bullmqStore({ connection: { port: redis.port }, prefix: 'flushed' }), pollMs: 60_000 } });
  t.after(() => app.tasks.close(performance.now() + 2_000));
  await app.tasks.enqueue(finishes, {});
  await app.tasks.enqueue(throws, {});
  const settled = app.settle();
  await running;
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  await admin.flushall();
  release();
  await settled;
  const refused = lines.filter(({ level, msg }) => level === LEVEL.warn && /was not recorded/.test(String(msg))).map(({ msg }) => String(msg));
  assert.equal(refused.length, 2, refused.join('\n'));
  for (const [i, what] of ['completion of durable task finishes', 'failure of durable task throws'].entries()) {
    const line = refused.find((msg) => msg.includes(what));
    assert.match(line ?? '', /its job is no longer in Redis \(bullmq store .*\): Redis was flushed or restarted without its data/, `${i}: ${line}`);
    assert.doesNotMatch(line!, /lease ran out/);
  }
});
