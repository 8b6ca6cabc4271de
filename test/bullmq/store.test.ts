// The BullMQ store: the conformance suite against a real redis-server, then
// what only this store has: its options, Redis down at start.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bullmqStore, type RedisConnection } from 'coda-http/bullmq';
import { StoreUnavailable, type TaskStore } from 'coda-http';
import { storeConformance } from '../durable/conformance.js';
import { relay } from './relay.js';
import { startRedis, useRedis } from './redis-server.js';

const { missing, server } = useRedis();
let prefixes = 0;

const CLOCK_AHEAD = 'BullMQ promotes delayed jobs by its clients\' Date.now(): the store honours a passed time ahead of it, never one behind';

if (missing !== undefined) {
  test('the BullMQ store against Redis', (t) => t.skip(missing));
} else {
  storeConformance('bullmq store', async () => {
    const prefix = `conformance-${++prefixes}`;
    const connection = { host: server().host, port: server().port };
    const store = bullmqStore({ connection, prefix });
    await store.open();
    return {
      store,
      reopen: async () => {
        const other = bullmqStore({ connection, prefix });
        await other.open();
        return other;
      },
      close: () => store.close(),
      clockAhead: CLOCK_AHEAD,
    };
  });
}

/** An opened store on the test's Redis under `prefix`, and a client of that Redis to look at its keys; both closed after the test. */
async function storeAndRedis(t: TestContext, prefix: string): Promise<{ store: TaskStore; redis: Redis }> {
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  const redis = new Redis({ port: server().port });
  t.after(() => redis.disconnect());
  return { store, redis };
}

describe('bullmq store', () => {
  test('Redis down at start: open() fails with StoreUnavailable naming the address', async () => {
    const store = bullmqStore({ connection: { host: '127.0.0.1', port: 1 } });
    await assert.rejects(store.open(), (error: unknown) => {
      assert.ok(error instanceof StoreUnavailable, String(error));
      assert.match(error.message, /^bullmq store redis:\/\/127\.0\.0\.1:1\/0 \(prefix coda\) is unavailable: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1\/0/);
      return true;
    });
    await store.close();
  });

  test('open() on a Redis that refuses the password, or wants one, or has no such database, or never answers, or is asked for TLS on its plain port: StoreUnavailable saying why, not "Connection is closed"; nothing written to database 0', { skip: missing, timeout: 30_000 }, async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const admin = new Redis({ port: redis.port });
    t.after(() => admin.disconnect());
    await admin.config('SET', 'requirepass', 'sekret');
    await admin.auth('sekret');
    const silent = createServer(() => {}).listen(0, '127.0.0.1');
    t.after(() => silent.close());
    await once(silent, 'listening');
    const address = (port: number, db = 0): string => `bullmq store redis://127\\.0\\.0\\.1:${port}/${db} \\(prefix coda\\) is unavailable: `;
    const cases: [RedisConnection, RegExp][] = [
      [{ port: redis.port, password: 'wrong' }, new RegExp(`^${address(redis.port)}cannot connect to Redis at redis://127\\.0\\.0\\.1:${redis.port}/0: WRONGPASS `)],
      [{ port: redis.port }, new RegExp(`^${address(redis.port)}cannot connect to Redis at .*: NOAUTH `)],
      // Redis has 16 databases unless told otherwise; ioredis, refused its SELECT, went on in database 0.
      [{ port: redis.port, password: 'sekret', db: 16 }, new RegExp(`^${address(redis.port, 16)}Redis at .* refused connection\\.db 16: ERR DB index is out of range`)],
      [{ port: (silent.address() as AddressInfo).port }, /cannot connect to Redis at .*: Command timed out$/],
      // It said only "connect ETIMEDOUT": the connection was made, the handshake never answered.
      [{ port: redis.port, tls: {} }, /cannot connect to Redis at rediss:\/\/.*: connect ETIMEDOUT \(with tls: if the connection was made, its TLS handshake did not complete: does Redis serve TLS on that port\? its tls-port, not its port\)$/],
    ];
    for (const [connection, message] of cases) {
      const store = bullmqStore({ connection });
      try {
        await assert.rejects(store.open(), (error: unknown) => {
          assert.ok(error instanceof StoreUnavailable, String(error));
          assert.match(error.message, message);
          return true;
        }, JSON.stringify(connection));
      } finally {
        await store.close();
      }
    }
    assert.equal(await admin.dbsize(), 0, 'nothing in database 0');
  });

  test('options are checked when the store is made, with messages that name the problem', () => {
    const cases: [unknown, RegExp][] = [
      [{ conection: {} }, /unknown option "conection"; did you mean "connection"\?/],
      [{ connection: { hots: 'x' } }, /bullmqStore\(\) connection: unknown option "hots"; did you mean "host"\?/],
      [{ connection: { port: 70000 } }, /connection.port must be a port number, got number 70000/],
      [{ connection: { host: '' } }, /connection.host must be a host name/],
      [{ connection: { db: -1 } }, /connection.db must be a database number/],
      [{ prefix: 'a:b' }, /prefix must be 1 to 100 letters, digits or _ \. @ \/ - \{ \} \(no ':'\), got string "a:b"/],
      [{ keepCompleted: { count: -1 } }, /keepCompleted.count/],
      [{ keepCompleted: { age: 5 } }, /unknown option "age"; did you mean "ageMs"\?/],
      [{ commandTimeoutMs: 0 }, /bullmqStore\(\): commandTimeoutMs must be a positive number of milliseconds, at most \d+, got number 0/],
      [{ commandTimeout: 500 }, /unknown option "commandTimeout"; did you mean "commandTimeoutMs"\?/],
    ];
    for (const [options, message] of cases) assert.throws(() => bullmqStore(options as never), message, JSON.stringify(options));
  });

  test('a completed job removed by keepCompleted stays removed: later heartbeats of its process do not write it back', { skip: missing }, async () => {
    const store = bullmqStore({ connection: { port: server().port }, prefix: 'removed', keepCompleted: { count: 0 } });
    await store.open();
    try {
      const now = Date.now();
      const task = {
        id: 'removed-1', name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
        timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
      } as const;
      await store.add([task], 'me', now + 10_000);
      assert.equal((await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 10_000 })).length, 1);
      await store.complete([task.id], 'me', now);
      await store.heartbeat('me', now + 20_000, [task.id]);
      assert.equal(await store.get(task.id), null);
      const redis = new Redis({ port: server().port });
      assert.deepEqual(await redis.keys('removed:send:removed-1*'), [], 'no key of the job is left');
      redis.disconnect();
      assert.deepEqual(await store.stats(now), { held: 0, ready: 0, delayed: 0, running: 0, completed: 0, failed: 0, byName: {} });
    } finally {
      await store.close();
    }
  });

  test('a completion or failure after the job\'s lock was lost writes nothing on the job: not on one another worker holds, not a stray hash of one whose owner removed it', { skip: missing }, async (t) => {
    const { store, redis } = await storeAndRedis(t, 'lock-lost');
    const now = Date.now();
    const ready = (id: string) => ({
      id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    } as const);
    await store.add([ready('taken'), ready('gone'), ready('failing')], 'me', now + 10_000);
    assert.equal((await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 3, now, leaseUntil: now + 10_000 })).length, 3);
    // After a stall another worker took 'taken' (its lock is that worker's now); 'gone' was then completed and pruned by its new owner.
    await redis.mset('lock-lost:send:taken:lock', 'another-worker', 'lock-lost:send:failing:lock', 'another-worker');
    await redis.multi().del('lock-lost:send:gone', 'lock-lost:send:gone:lock').lrem('lock-lost:send:active', 0, 'gone').exec();
    await store.complete(['taken', 'gone'], 'me', now + 5);
    assert.equal(await redis.hget('lock-lost:send:taken', 'coda:finishedAt'), null, 'no finish time on a job another worker runs');
    await store.fail('failing', 'me', { attempt: 1, message: 'boom', startedAt: now, finishedAt: now + 5 }, null);
    assert.deepEqual(await redis.hmget('lock-lost:send:failing', 'coda:finishedAt', 'failedReason'), [null, null], 'a failure neither');
    assert.equal(await redis.llen('lock-lost:send:failing:logs'), 0, 'nor its error line');
    assert.deepEqual((await redis.lrange('lock-lost:send:active', 0, -1)).sort(), ['failing', 'taken'], 'both still running, on the other worker');
    assert.deepEqual(await redis.keys('lock-lost:send:gone*'), [], 'no hash written back for a job removed meanwhile');
  });

  test('a job whose log kept more error lines than the cap (40, written before it) is trimmed to the first 5 and last 20 at its next failure, the line between counting each dropped, as on SQLite: every attempt\'s line was kept, without bound', { skip: missing }, async (t) => {
    const { store, redis } = await storeAndRedis(t, 'kept-errors');
    const now = Date.now();
    await store.add([{
      id: 'flaky', name: 'flaky', payload: '{}', key: null, when: 'always', maxAttempts: 1_000, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'me', now + 10_000);
    await redis.rpush('kept-errors:flaky:flaky:logs', ...Array.from({ length: 40 }, (_, i) => JSON.stringify({ attempt: i + 1, message: `old ${i + 1}`, startedAt: null, finishedAt: i })));
    const omitted = (count: number, finishedAt: number) => ({
      attempt: 0, omitted: count, startedAt: null, finishedAt,
      message: `the errors of ${count} more attempts are not kept (a task keeps those of its first 5 and its last 20 attempts)`,
    });
    const messages = (from: number, to: number, word: string) => Array.from({ length: to - from + 1 }, (_, i) => `${word} ${from + i}`);
    for (let i = 1; i <= 30; i++) {
      const [claimed] = await store.claim({ owner: 'me', names: ['flaky'], concurrency: {}, limit: 1, now, leaseUntil: now + 10_000 });
      assert.equal(await store.fail(claimed!.id, 'me', { attempt: claimed!.attempt, message: `new ${i}`, startedAt: null, finishedAt: 1000 + i }, now), true);
      const { errors } = (await store.get('flaky'))!;
      if (i === 1) {
        // Lines 6 to 21 of the 40 dropped (the last of them finished at 20), their 19 after and the new one kept.
        assert.deepEqual(errors[5], omitted(16, 20));
        assert.deepEqual(errors.map(({ message }) => message), [...messages(1, 5, 'old'), errors[5]!.message, ...messages(22, 40, 'old'), 'new 1']);
      }
      assert.equal(errors.length, 26, `failure ${i}`);
    }
    const { errors } = (await store.get('flaky'))!;
    assert.deepEqual(errors[5], omitted(45, 1010));
    assert.deepEqual(errors.slice(6).map(({ message }) => message), messages(11, 30, 'new'));
    assert.equal(await redis.llen('kept-errors:flaky:flaky:logs'), 26);
  });

  test('a late completion whose job another process ran and keepCompleted pruned is refused as a lost lease, not blamed on Redis losing its data (its epoch key still there); after a flush it is, even once another store wrote the key anew', { skip: missing }, async (t) => {
    // A Redis of its own: it is flushed below.
    const redis = await startRedis();
    t.after(() => redis.stop());
    const options = { connection: { port: redis.port }, prefix: 'pruned', keepCompleted: { count: 0, ageMs: 60_000 } };
    const [a, b] = [bullmqStore(options), bullmqStore(options)];
    await Promise.all([a.open(), b.open()]);
    t.after(() => Promise.all([a.close(), b.close()]));
    const ready = (id: string, runAt: number) => ({
      id, name: 'charge', payload: '{}', key: null, when: 'always', maxAttempts: 2, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt, request: null, trace: null,
    } as const);
    const now = Date.now();
    await a.add([ready('t1', now)], 'a', now + 60_000);
    assert.deepEqual((await a.claim({ owner: 'a', names: ['charge'], concurrency: {}, limit: 1, now, leaseUntil: now + 1_000 })).map(({ id }) => id), ['t1']);
    // A pauses (a GC, a blocked event loop) past its lease; B recovers the task, runs it, and its job is pruned.
    const later = now + 5_000;
    await b.recover(later, () => 0);
    assert.deepEqual((await b.claim({ owner: 'b', names: ['charge'], concurrency: {}, limit: 1, now: later, leaseUntil: later + 60_000 })).map(({ id }) => id), ['t1']);
    assert.deepEqual(await b.complete(['t1'], 'b', later), ['t1']);
    assert.equal(await b.get('t1'), null);
    assert.deepEqual(await a.complete(['t1'], 'a', later), []);
    // The runner's own words then: the lease ran out and another process may have taken the task over (it had, and ran it).
    assert.equal(a.whyRefused?.('t1'), undefined);

    // Redis flushed, then another store opened (writing the epoch key anew): still told as the data lost.
    await a.add([ready('t2', later)], 'a', later + 60_000);
    assert.equal((await a.claim({ owner: 'a', names: ['charge'], concurrency: {}, limit: 1, now: later, leaseUntil: later + 60_000 })).length, 1);
    const admin = new Redis({ port: redis.port });
    t.after(() => admin.disconnect());
    await admin.flushall();
    const c = bullmqStore(options);
    await c.open();
    t.after(() => c.close());
    assert.deepEqual(await a.complete(['t2'], 'a', later), []);
    assert.match(a.whyRefused?.('t2') ?? '', /Redis was flushed or restarted without its data \(the key pruned:coda-epoch is no longer as this store found it when it opened\)/);
  });

  test('a process that only recovers a name\'s tasks (a web process that runs none) does not slow the stall check of those that run them: a job fetched and never claimed (a claim cut midway) is back in line within about one and a half of their leases, not 15 to 30 s later', { skip: missing, timeout: 30_000 }, async (t) => {
    const prefix = 'stall-check';
    const open = async (): Promise<TaskStore> => {
      const store = bullmqStore({ connection: { port: server().port }, prefix });
      await store.open();
      t.after(() => store.close());
      return store;
    };
    const [gone, web, worker] = [await open(), await open(), await open()];
    const events = new QueueEvents('send', { connection: { port: server().port }, prefix });
    t.after(() => events.close());
    await events.waitUntilReady();
    const ready = (id: string) => ({
      id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 3, backoff: { type: 'fixed', delayMs: 60_000 },
      timeoutMs: 1000, held: false, runAt: Date.now(), request: null, trace: null,
    } as const);
    const claim = (store: TaskStore, owner: string) => {
      const now = Date.now();
      return store.claim({ owner, names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 1_000 });
    };
    // A worker claims a task and its process is gone; the web process's recovery finds the claim lapsed (a minute on).
    await web.add([ready('lapsed')], 'web', Date.now() + 60_000);
    assert.equal((await claim(gone, 'gone')).length, 1);
    await gone.close();
    // Its process gone, the mark of its last stall check runs out (BullMQ's: no check is made while it is there).
    const admin = new Redis({ port: server().port });
    t.after(() => admin.disconnect());
    await admin.del(`${prefix}:send:stalled-check`);
    assert.deepEqual(await web.recover(Date.now() + 60_000, () => 0), { held: 0, running: 1 });
    // A live worker, with a 1 s lease, fetches then; and a job is fetched by a claim that never wrote its bookkeeping:
    // active, under a lock of 100 ms that no one renews.
    await web.add([ready('other')], 'web', Date.now() + 60_000);
    assert.equal((await claim(worker, 'worker')).length, 1);
    await web.add([ready('fetched')], 'web', Date.now() + 60_000);
    const raw = new Worker('send', undefined, { connection: { port: server().port }, prefix, autorun: false, lockDuration: 100 });
    t.after(() => raw.close());
    assert.equal((await raw.getNextJob('cut-claim', { block: false }))?.id, 'fetched');
    const started = performance.now();
    await new Promise<void>((resolve) => events.on('waiting', ({ jobId, prev }) => {
      if (jobId === 'fetched' && prev === 'active') resolve();
    }));
    // The worker's check runs every half lease (500 ms) and needs two looks (about 1 to 1.5 s); 8 s allowed for a loaded
    // machine, far from the 30 s it took with the web process's check in the way.
    const waited = performance.now() - started;
    assert.ok(waited < 8_000, `back in line after ${Math.round(waited)} ms`);
  });

  test('a job BullMQ\'s stalled check moves back again and again (fetched, never claimed: claims cut midway) is never failed by BullMQ\'s stall limit: no attempt of Coda\'s ran, and the next claim runs it as attempt 1 of 1', { skip: missing, timeout: 30_000 }, async (t) => {
    const prefix = 'stalled-often';
    const { store, redis } = await storeAndRedis(t, prefix);
    const events = new QueueEvents('send', { connection: { port: server().port }, prefix });
    t.after(() => events.close());
    await events.waitUntilReady();
    const claim = () => {
      const now = Date.now();
      return store.claim({ owner: 'worker', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 1_000 });
    };
    // The store's first fetch starts its stall check, every half of its 1 s lease.
    assert.deepEqual(await claim(), []);
    const now = Date.now();
    await store.add([{
      id: 'cut', name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'web', now + 60_000);
    const raw = new Worker('send', undefined, { connection: { port: server().port }, prefix, autorun: false, lockDuration: 100 });
    t.after(() => raw.close());
    // BullMQ's default stall limit (1) fails a job at its second stall: three are made.
    for (let stall = 1; stall <= 3; stall++) {
      const movedBack = new Promise<void>((resolve, reject) => {
        events.on('waiting', ({ jobId, prev }) => { if (jobId === 'cut' && prev === 'active') resolve(); });
        events.on('failed', ({ jobId, failedReason }) => { if (jobId === 'cut') reject(new Error(`failed at stall ${stall}: ${failedReason}`)); });
      });
      assert.equal((await raw.getNextJob(`cut-claim-${stall}`, { block: false }))?.id, 'cut', `fetched for the ${stall}th time`);
      await movedBack;
    }
    // BullMQ 6 fails a job past its stall limit at its next fetch by a BullMQ worker, marked by this field.
    assert.equal(await redis.hget(`${prefix}:send:cut`, 'defa'), null, 'no failure deferred by BullMQ\'s stall limit');
    const [claimed] = await claim();
    assert.deepEqual([claimed?.id, claimed?.attempt, claimed?.errors], ['cut', 1, []], 'no attempt charged');
  });

  test('a task is one job, its id the task\'s, in one BullMQ queue per task name, a \':\' in the name written \'~\': BullMQ\'s own Queue of that name (as Bull Board opens it) finds it', { skip: missing }, async (t) => {
    const prefix = 'queue-names';
    const { store, redis } = await storeAndRedis(t, prefix);
    const now = Date.now();
    const ready = (id: string, name: string) => ({
      id, name, payload: `{"id":"${id}"}`, key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    } as const);
    await store.add([ready('t-1', 'billing:send'), ready('t-2', 'billing:send'), ready('t-3', 'plain')], 'web', now + 60_000);
    const billing = new Queue('billing~send', { connection: { port: server().port }, prefix });
    t.after(() => billing.close());
    assert.deepEqual((await billing.getWaiting()).map(({ id }) => id).sort(), ['t-1', 't-2']);
    assert.deepEqual(await billing.getJobCounts('wait'), { wait: 2 });
    assert.equal(await redis.exists(`${prefix}:billing~send:t-1`, `${prefix}:plain:t-3`), 2, 'each job\'s hash under its queue, by the task\'s id');
    assert.equal(await redis.exists(`${prefix}:billing:send:t-1`), 0, 'no queue named with the \':\'');
  });

  test('recover() leaves alone a job just fetched whose claim has not written its lease yet, though the lease its last attempt left has run out: no stall charged, its fetcher\'s lock kept', { skip: missing }, async (t) => {
    const prefix = 'just-fetched';
    const { store, redis } = await storeAndRedis(t, prefix);
    const now = Date.now();
    await store.add([{
      id: 'again', name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 3, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'web', now + 60_000);
    // Attempt 1 claimed (its lease written, a second long) and failed, retried at once: its lease stays in the hash.
    assert.equal((await store.claim({ owner: 'first', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 1_000 })).length, 1);
    assert.equal(await store.fail('again', 'first', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, now), true);
    // Fetched for attempt 2 by a claim that has not reached its bookkeeping (BullMQ's fetch alone).
    const raw = new Worker('send', undefined, { connection: { port: server().port }, prefix, autorun: false, lockDuration: 60_000 });
    t.after(() => raw.close());
    assert.equal((await raw.getNextJob('mid-claim', { block: false }))?.id, 'again');
    // An hour on, attempt 1's lease long run out.
    assert.deepEqual(await store.recover(now + 3_600_000, () => 0), { held: 0, running: 0 });
    assert.equal(await redis.get(`${prefix}:send:again:lock`), 'mid-claim', 'the fetcher\'s lock, not taken over');
    const task = await store.get('again');
    assert.deepEqual([task?.state, task?.attempt, task?.errors.map(({ message }) => message)], ['running', 2, ['Error: declined']], 'attempt 2 under way, no stalled attempt charged');
    // Its lock run out too (the claim cut midway): still no attempt of Coda's to charge; BullMQ's stall check moves it back.
    await redis.del(`${prefix}:send:again:lock`);
    assert.deepEqual(await store.recover(now + 3_600_000, () => 0), { held: 0, running: 0 });
    assert.equal((await store.get('again'))?.errors.length, 1);
  });

  test('a task that no longer sets a concurrency is no longer capped: the cap an earlier deploy wrote on its queue is removed', { skip: missing }, async (t) => {
    const open = async (): Promise<TaskStore> => {
      const store = bullmqStore({ connection: { port: server().port }, prefix: 'cap-removed' });
      await store.open();
      t.after(() => store.close());
      return store;
    };
    const claim = (store: TaskStore, concurrency: Record<string, number>) => {
      const now = Date.now();
      return store.claim({ owner: 'me', names: ['send'], concurrency, limit: 5, now, leaseUntil: now + 30_000 });
    };
    const capped = await open();
    const now = Date.now();
    await capped.add(['a', 'b', 'c'].map((id) => ({
      id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    } as const)), 'me', now + 30_000);
    assert.equal((await claim(capped, { send: 1 })).length, 1, 'one at a time while the task says so');
    // The app deployed again, its task without a concurrency of its own.
    assert.equal((await claim(await open(), {})).length, 2, 'the other two, beside the one running');
  });

  test('a task read while its completion is written reads as before it or after it, never half: its hash and its BullMQ state read apart, a completion between them read as completed with the running attempt\'s count, one short (worker.test.ts\'s recovered task completed as attempt 1, about one run in three under load)', { skip: missing }, async (t) => {
    const { store } = await storeAndRedis(t, 'torn-read');
    const now = Date.now();
    await store.add([{
      id: 'one', name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'me', now + 30_000);
    assert.equal((await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 30_000 }))[0]?.attempt, 1);
    // The completion forced between the two reads, where load put it: as BullMQ's state is read, once.
    const { getJobState } = Queue.prototype;
    t.after(() => { Queue.prototype.getJobState = getJobState; });
    let completing: Promise<string[]> | undefined;
    Queue.prototype.getJobState = async function (this: Queue, id: string) {
      completing ??= store.complete([id], 'me', now);
      await completing;
      return getJobState.call(this, id);
    };
    const read = await store.get('one');
    assert.deepEqual([read?.state, read?.attempt], ['running', 1]);
    assert.deepEqual(await (completing ?? store.complete(['one'], 'me', now)), ['one']);
    const done = await store.get('one');
    assert.deepEqual([done?.state, done?.attempt, done?.finishedAt], ['completed', 1, now]);
  });

  test('a completion whose script finds the next job of its line delayed (a retry\'s backoff, a delayMs not yet due) is recorded and reported: BullMQ\'s reply then carries no job, which was read as one (a TypeError after Redis had taken the completion, which the runner then warned was not recorded)', { skip: missing }, async (t) => {
    const store = bullmqStore({ connection: { port: server().port }, prefix: 'next-delayed' });
    await store.open();
    t.after(() => store.close());
    const now = Date.now();
    const ready = (id: string, runAt: number) => ({
      id, name: 'send', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
      timeoutMs: 1000, held: false, runAt, request: null, trace: null,
    } as const);
    await store.add([ready('now', now), ready('later', now + 60_000)], 'me', now + 30_000);
    const [claimed] = await store.claim({ owner: 'me', names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 30_000 });
    assert.equal(claimed?.id, 'now');
    const done = await store.completeAndClaim!(['now'], 'me', now, { names: ['send'], concurrency: {}, limit: 1, now, leaseUntil: now + 30_000 });
    assert.deepEqual(done, { completed: ['now'], claimed: [] });
    assert.deepEqual([(await store.get('now'))?.state, (await store.get('later'))?.state], ['completed', 'ready']);
  });

  test('a store not opened refuses calls with StoreUnavailable; close() twice is harmless', async () => {
    const store = bullmqStore({ connection: { port: 1 } });
    await assert.rejects(store.stats(Date.now()), StoreUnavailable);
    await store.close();
    await store.close();
  });
  test('on a Redis Cluster (one node, every slot its own): a prefix with a hash tag, as the docs say ({shop}), is taken and a task goes its whole way; one without is refused at open, saying what to do (every registration failed with CROSSSLOT)', { skip: missing, timeout: 30_000 }, async (t) => {
    const cluster = await startRedis({ cluster: true });
    t.after(() => cluster.stop());
    const untagged = bullmqStore({ connection: { port: cluster.port }, prefix: 'shop' });
    await assert.rejects(untagged.open(), new RegExp(`^Error: Redis at redis://127\\.0\\.0\\.1:${cluster.port}/0 is a cluster node: the store's prefix must hold a hash tag, as '\\{shop\\}' does, so that all its keys live in one hash slot`));
    await untagged.close();
    const store = bullmqStore({ connection: { port: cluster.port }, prefix: '{shop}' });
    await store.open();
    t.after(() => store.close());
    const now = Date.now();
    const task = { id: 'tagged', name: 'send', payload: '{}', key: 'k', when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: true, runAt: now, request: null, trace: null } as const;
    assert.deepEqual(await store.add([task], 'me', now + 30_000), [{ id: 'tagged', duplicate: false }]);
    assert.deepEqual((await store.release([{ id: 'tagged', outcome: { status: 200, completed: true, aborted: false, bytesSent: 1, startedAt: 0, finishedAt: 1 }, run: true, runAt: now }], 'me')).ready, ['tagged']);
    assert.deepEqual((await store.claim({ owner: 'me', names: ['send'], concurrency: { send: 2 }, limit: 1, now, leaseUntil: now + 30_000 })).map(({ id }) => id), ['tagged']);
    assert.deepEqual(await store.complete(['tagged'], 'me', now + 1), ['tagged']);
    assert.equal((await store.stats(Date.now())).completed, 1);
    assert.deepEqual((await store.list({})).map(({ id, state }) => `${id} ${state}`), ['tagged completed']);
  });
  test('a Redis that does not let INFO be run (an ACL, as some managed ones have) still opens: the cluster check passes over it', { skip: missing }, async (t) => {
    const admin = new Redis({ port: server().port });
    await admin.call('ACL', 'SETUSER', 'no-info', 'on', '>secret', '~*', '&*', '+@all', '-info');
    t.after(async () => {
      await admin.call('ACL', 'DELUSER', 'no-info');
      admin.disconnect();
    });
    const store = bullmqStore({ connection: { port: server().port, username: 'no-info', password: 'secret' }, prefix: 'no-info' });
    await store.open();
    t.after(() => store.close());
    assert.equal((await store.stats(Date.now())).ready, 0);
  });

  test('a retry that read the task failed, then found it retried and claimed by another process (two operators at once), changes nothing of that claim: its attempt\'s stall is still recovered and counted', { skip: missing }, async (t) => {
    const prefix = `retried-meanwhile-${++prefixes}`;
    const { store } = await storeAndRedis(t, prefix);
    // The other process reaches Redis through a relay, which holds its retry's script (the only command naming the
    // task's key) while this one retries the task and a worker claims it: a moment between two steps of one call.
    const relayed = await relay(server().port);
    t.after(() => relayed.close());
    const other = bullmqStore({ connection: { port: relayed.port }, prefix });
    await other.open();
    t.after(() => other.close());
    const now = Date.now();
    const claim = (leaseUntil: number) => store.claim({ owner: 'worker', names: ['charge'], concurrency: {}, limit: 1, now, leaseUntil });
    await store.add([{
      id: 'charge-1', name: 'charge', payload: '{}', key: 'card-1', when: 'always', maxAttempts: 2,
      backoff: { type: 'fixed', delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
    }], 'web', now + 60_000);
    await claim(now + 60_000);
    assert.equal(await store.fail('charge-1', 'worker', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
    // The other process's retry reads the task failed; its script waits while this one retries it and a worker claims it.
    let meanwhile: unknown[] = [];
    relayed.holdOn(':de:card-1', async () => {
      meanwhile = [await store.retry('charge-1', now), (await claim(now + 100)).length];
    });
    assert.equal(await other.retry('charge-1', now), false);
    assert.deepEqual(meanwhile, [true, 1], 'held between its read and its script, the task retried and claimed meanwhile');
    assert.equal(await store.keyHolder('charge', 'card-1'), 'charge-1');
    // The worker dies: its lease runs out, and the attempt it ran is counted as stalled.
    assert.deepEqual(await store.recover(now + 200, () => 0.5), { held: 0, running: 1 });
    const stalled = await store.get('charge-1');
    assert.deepEqual([stalled?.state, stalled?.attempt, stalled?.errors.at(-1)?.attempt], ['ready', 1, 1]);
    assert.match(stalled!.errors.at(-1)!.message, /^stalled:/);
  });
});
