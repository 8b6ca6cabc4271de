// The store's commandTimeoutMs bounds each call, however many commands it
// sends one after another: a Redis slowed by a long Lua script, then paused,
// fails a registration, get(), stats() and list() once the timeout has passed
// since the call, not the timeout after the last command that was answered.
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
  id, name: 'record', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
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
  await store.add([readyTask('first')], 'web', Date.now() + 30_000);
  return { store, busy, pauser };
}

const calls: [string, string, RegExp, (store: TaskStore) => Promise<unknown>][] = [
  ['enqueue() (a registration of a ready task)', 'add', /add\(\)/, (store) => store.add([readyTask(`next-${Math.random()}`)], 'web', Date.now() + 30_000)],
  ['get()', 'get', /get\(\)/, (store) => store.get('first')],
  ['stats()', 'stats', /stats\(\)/, (store) => store.stats(Date.now())],
  ['list()', 'list', /list\(\)/, (store) => store.list({ limit: 10 })],
];

for (const [what, prefix, named, call] of calls) {
  test(`${what} on a Redis busy with a long Lua script, then paused (CLIENT PAUSE of writes): fails with StoreUnavailable naming the call and its commandTimeoutMs once that has passed since the call, not that long after its first answer`, { timeout: 30_000, skip: missing }, async (t) => {
    const { store, busy, pauser } = await slowed(t, `timeout-${prefix}`);
    // Once without a fault: the scripts it runs are loaded (an unknown one costs a second round trip).
    await call(store);
    const script = busy.eval(BUSY, 0, SCRIPT_MS);
    const started = performance.now();
    const failed = call(store).then(() => assert.fail(`${what} succeeded`), (error: unknown) => error);
    // The call's first command is in Redis's socket, behind the script: the pause, sent after it, comes after it.
    await turn();
    // Writes only (every script): the pauser's own UNPAUSE, and the reads ahead of a script, still go through.
    await pauser.client('PAUSE', 10_000, 'WRITE');
    const error = await failed;
    const took = performance.now() - started;
    await script;
    assert.ok(error instanceof StoreUnavailable, `${what} failed with ${String(error)}`);
    assert.ok(took > TIMEOUT_MS - 50, `failed after ${Math.round(took)} ms, before its ${TIMEOUT_MS} ms`);
    // Not the timeout again after the first command's late answer (SCRIPT_MS + TIMEOUT_MS).
    assert.ok(took < TIMEOUT_MS + 250, `failed after ${Math.round(took)} ms for a timeout of ${TIMEOUT_MS} ms`);
    assert.match(error.message, named);
    assert.match(error.message, new RegExp(`within ${TIMEOUT_MS} ms`));
  });
}
