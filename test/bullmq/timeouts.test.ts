// The store's commandTimeoutMs bounds each call, however many commands it
// sends one after another: a Redis slowed by a long Lua script, then paused,
// fails a registration, get(), stats(), list(), keyHolder(), nextRunAt(),
// prune(), retry() and discard() once the timeout has passed since the call, not the
// timeout after the last command that was answered.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { StoreUnavailable, type NewTask, type TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

const TIMEOUT_MS = 300;
/** Shorter than the timeout, so that the call's first command is answered; long enough that a second full timeout after it shows. */
const SCRIPT_MS = 280;
/** A Lua script that keeps Redis busy (answering no one) for `ms`. */
const BUSY = `local t = redis.call('TIME'); local from = t[1] * 1000 + t[2] / 1000
while true do local n = redis.call('TIME'); if n[1] * 1000 + n[2] / 1000 - from >= tonumber(ARGV[1]) then return 1 end end`;

const readyTask = (id: string): NewTask => ({
  id, name: 'record', payload: '{}', key: id, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
  timeoutMs: 1000, held: false, runAt: Date.now(), request: null, trace: null,
});

/** A store of commandTimeoutMs TIMEOUT_MS holding one ready task, and two admin connections, unpaused and closed after. */
async function slowed(t: TestContext, prefix: string): Promise<{ store: TaskStore; busy: Redis; pauser: Redis }> {
  const store = bullmqStore({ connection: { port: server().port }, prefix, commandTimeoutMs: TIMEOUT_MS });
  await store.open();
  const [busy, pauser] = [new Redis({ port: server().port }), new Redis({ port: server().port })];
  t.after(async () => {
    await pauser.client('UNPAUSE');
    busy.disconnect();
    pauser.disconnect();
    // After the pause: the failed registration's undo is sent first.
    await store.close();
  });
  // Connected and ready before the test writes its script: ioredis queues commands given before its ready check's
  // answer, so on a loaded machine the call's commands could all go first and the call succeed.
  await Promise.all([busy.ping(), pauser.ping()]);
  await store.add([readyTask('first')], 'web', Date.now() + 30_000);
  return { store, busy, pauser };
}

const calls: [string, string, RegExp, (store: TaskStore) => Promise<unknown>][] = [
  ['enqueue() (a registration of a ready task)', 'add', /add\(\)/, (store) => store.add([readyTask(`next-${Math.random()}`)], 'web', Date.now() + 30_000)],
  ['get()', 'get', /get\(\)/, (store) => store.get('first')],
  ['stats()', 'stats', /stats\(\)/, (store) => store.stats(Date.now())],
  ['list()', 'list', /list\(\)/, (store) => store.list({ limit: 10 })],
  // Its key's holder looked up, then read.
  ['keyHolder()', 'keyholder', /keyHolder\(\)/, (store) => store.keyHolder('record', 'first')],
  // A name's oldest waiting task looked up, then read.
  ['nextRunAt()', 'next', /nextRunAt\(\)/, (store) => store.nextRunAt(['record'])],
  // The names looked up, then each name's completed tasks pruned.
  ['prune()', 'prune', /prune\(\)/, (store) => store.prune(Date.now())],
];

for (const [what, prefix, named, call] of calls) {
  test(`${what} on a Redis busy with a long Lua script, then paused (CLIENT PAUSE of writes): fails with StoreUnavailable naming the call and its commandTimeoutMs once that has passed since the call, not that long after its first answer`, { timeout: 30_000, skip: missing }, async (t) => {
    const { store, busy } = await slowed(t, `timeout-${prefix}`);
    // Once without a fault: the scripts it runs are loaded (an unknown one costs a second round trip).
    await call(store);
    // The pause of writes (every script) in the same write as the script, so that Redis runs it right after the script,
    // whichever socket it reads first: the call's later commands, sent once its first is answered, are held. Sent
    // apart, the pause came after the call's writes when Redis read the call's first command before the script (a
    // prune() that succeeded, on a loaded machine). The reads ahead of a script, and the pauser's UNPAUSE, go through.
    const slowing = busy.pipeline().eval(BUSY, 0, SCRIPT_MS).client('PAUSE', 10_000, 'WRITE').exec();
    const started = performance.now();
    const failed = call(store).then(() => assert.fail(`${what} succeeded`), (error: unknown) => error);
    const error = await failed;
    const took = performance.now() - started;
    await slowing;
    assert.ok(error instanceof StoreUnavailable, `${what} failed with ${String(error)}`);
    assert.ok(took > TIMEOUT_MS - 50, `failed after ${Math.round(took)} ms, before its ${TIMEOUT_MS} ms`);
    // Not the timeout again after the first command's late answer (SCRIPT_MS + TIMEOUT_MS).
    assert.ok(took < TIMEOUT_MS + 250, `failed after ${Math.round(took)} ms for a timeout of ${TIMEOUT_MS} ms`);
    assert.match(error.message, named);
    assert.match(error.message, new RegExp(`within ${TIMEOUT_MS} ms`));
  });
}

/** Failed tasks `ids` (one attempt each), in `store`. */
async function fail(store: TaskStore, ids: readonly string[]): Promise<void> {
  const now = Date.now();
  await store.add(ids.map(readyTask), 'web', now + 30_000);
  const claimed = await store.claim({ owner: 'worker', names: ['record'], concurrency: {}, limit: ids.length, now, leaseUntil: now + 30_000, ids });
  assert.equal(claimed.length, ids.length);
  for (const { id } of claimed) assert.equal(await store.fail(id, 'worker', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
}

/** Awaits `count` clients held by a pause whose command is `cmd`, through CLIENT LIST (a bounded number of round trips). */
async function held(admin: Redis, cmd: 'eval' | 'evalsha', count: number): Promise<void> {
  for (let tries = 0; tries < 10_000; tries++) {
    const list = await admin.client('LIST') as string;
    if (list.split('\n').filter((line) => /\bflags=\w*b/.test(line) && line.includes(` cmd=${cmd} `)).length >= count) return;
    await turn();
  }
  assert.fail(`no ${count} ${cmd} held by the pause`);
}

// retry() and discard() look the task up (get()'s steps, its read a script), then change it (a script). Under a pause
// of writes, Redis holds a long script, then the call's read, then a script and a pause pipelined after it; unpaused,
// it runs them in that order: the read answered just inside the timeout, and every write from then on paused again,
// the call's change among them.
const changes: [string, RegExp, (store: TaskStore, id: string) => Promise<unknown>][] = [
  ['retry()', /retry\(\)/, (store, id) => store.retry(id, Date.now())],
  ['discard()', /discard\(\)/, (store, id) => store.discard(id)],
];

for (const [what, named, call] of changes) {
  test(`${what} of a failed task on a Redis that answers its look-up just inside commandTimeoutMs (behind a long Lua script), then pauses writes (CLIENT PAUSE): fails with StoreUnavailable naming the call once the timeout has passed since the call, not that long after the look-up`, { timeout: 30_000, skip: missing }, async (t) => {
    const { store, busy, pauser } = await slowed(t, `timeout-${what.slice(0, -2)}`);
    const repauser = new Redis({ port: server().port });
    t.after(() => repauser.disconnect());
    await fail(store, ['warm', 'target']);
    // Once without a fault: the scripts it runs are loaded (an unknown one costs a second round trip).
    assert.equal(await call(store, 'warm'), true);
    await pauser.client('PAUSE', 10_000, 'WRITE');
    const script = busy.eval(BUSY, 0, SCRIPT_MS);
    await held(pauser, 'eval', 1);
    const started = performance.now();
    const failed = call(store, 'target').then(() => assert.fail(`${what} succeeded`), (error: unknown) => error);
    await held(pauser, 'evalsha', 1);
    const repaused = Promise.all([repauser.eval('return 1', 0), repauser.client('PAUSE', 10_000, 'WRITE')]);
    await held(pauser, 'eval', 2);
    await pauser.client('UNPAUSE');
    const error = await failed;
    const took = performance.now() - started;
    await Promise.all([script, repaused]);
    assert.ok(error instanceof StoreUnavailable, `${what} failed with ${String(error)}`);
    assert.ok(took > TIMEOUT_MS - 50, `failed after ${Math.round(took)} ms, before its ${TIMEOUT_MS} ms`);
    assert.ok(took < TIMEOUT_MS + 250, `failed after ${Math.round(took)} ms for a timeout of ${TIMEOUT_MS} ms`);
    assert.match(error.message, named);
    assert.match(error.message, new RegExp(`within ${TIMEOUT_MS} ms`));
  });
}
