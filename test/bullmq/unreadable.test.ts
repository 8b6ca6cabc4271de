// A Coda job whose data, opts or outcome was edited by hand (redis-cli), or
// written by another version, into text that is not JSON or JSON of another
// shape: as on SQLite (sqlite-store.test.ts), a claim or a recovery fails it
// for good, its bad fields replaced and named, and the others go on; get()
// and list() show it, the hash left as it is; retry() and discard() take it.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { NewTask, RequestSnapshot, StoredTask, TaskStore } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

const task = (id: string): NewTask => ({
  id, name: 'work', payload: '{"n":1}', key: null, when: 'always', maxAttempts: 3, backoff: { type: 'fixed', delayMs: 1 }, timeoutMs: 1_000,
  held: false, runAt: Date.now(), request: null, trace: null,
});

let prefixes = 0;

/** A store on a prefix of its own holding ready tasks a, bad and c, and an admin connection (redis-cli's); both closed when the test ends. */
async function three(t: TestContext): Promise<{ store: TaskStore; admin: Redis; prefix: string; jobKey: string }> {
  const prefix = `unreadable${++prefixes}`;
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  await store.add([task('a'), task('bad'), task('c')], 'setup', Date.now() + 60_000);
  const admin = new Redis({ port: server().port });
  t.after(() => admin.disconnect());
  return { store, admin, prefix, jobKey: `${prefix}:work:bad` };
}

const data = (edit: Record<string, unknown>): string => JSON.stringify({
  payload: '{"n":1}', key: null, when: 'always', timeoutMs: 1000, backoff: { type: 'fixed', delayMs: 1 }, request: null, trace: null, runAt: 0, holder: null, seq: 1, ...edit,
});

// Each hand edit, and how the reason names it. Not JSON: BullMQ's fetch threw (the job left active, stalled and
// fetched again: every claim of its name failed), get() and list() threw. JSON of another shape: a backoff of null was
// refused as another program's job, one without its delay, a timeout or attempts of "x" ran (a NaN retry time, a 1 ms
// timeout, no retry at all).
const edits: [field: string, text: string, named: string][] = [
  ['data', '{"payload": ', 'data ("{\\"payload\\": ") is'],
  ['opts', '{"attempts": ', 'opts ("{\\"attempts\\": ") is'],
  ['coda:outcome', '{"status": ', 'coda:outcome ("{\\"status\\": ") is'],
  ['data', data({ backoff: null }), 'data.backoff ("null") is'],
  ['data', data({ backoff: { type: 'fixed' } }), 'data.backoff ("{\\"type\\":\\"fixed\\"}") is'],
  ['data', data({ timeoutMs: 'x', request: 5 }), 'data.timeoutMs ("\\"x\\""), its field data.request ("5") are'],
  ['data', data({ trace: { traceparent: 5 } }), 'data.trace ("{\\"traceparent\\":5}") is'],
  ['data', data({ timeoutMs: 2 ** 31 }), 'data.timeoutMs ("2147483648") is'],
  ['opts', '{"attempts":"x"}', 'opts ("{\\"attempts\\":\\"x\\"}") is'],
];

const replaced = (named: string): string => `not valid JSON of its shape (edited by hand?), replaced${named.includes('backoff') || named.startsWith('data (') ? ' (the backoff by the default one)' : ''}`;

test('a ready job whose data, opts or outcome was edited by hand (not JSON, or JSON of another shape) does not stop claims: it fails for good, its bad fields replaced, the others are claimed, and the next recover() reports it once', { timeout: 30_000, skip: missing }, async (t) => {
  for (const [field, text, named] of edits) {
    const { store, admin, prefix, jobKey } = await three(t);
    await admin.hset(jobKey, field, text);
    const now = Date.now();
    const claimed = await store.claim({ owner: 'me', names: ['work'], concurrency: {}, limit: 10, now, leaseUntil: now + 60_000 });
    assert.deepEqual(claimed.map(({ id }) => id), ['a', 'c'], `${field} ${text}`);
    const failed = (await store.get('bad'))!;
    assert.equal(failed.state, 'failed', `${field} ${text}`);
    const reason = `durable task bad (job ${jobKey}) in the ${store.description} failed for good, not retried: its field ${named} ${replaced(named)}`;
    assert.equal(failed.errors.at(-1)!.message, `me claimed it and could not read its job; ${reason}`);
    assert.equal(failed.errors.length, 1, 'read again as repaired: no note of fields shown replaced');
    assert.deepEqual(await store.recover(Date.now(), () => 0.5), { held: 0, running: 0, unreadable: [{ id: 'bad', reason }] }, `${field} ${text}`);
    assert.deepEqual(await store.recover(Date.now(), () => 0.5), { held: 0, running: 0 }, 'reported once');
    // BullMQ's own tools (Bull Board) read it again.
    const queue = new Queue('work', { connection: { port: server().port }, prefix });
    assert.equal((await queue.getJob('bad'))?.failedReason, failed.errors.at(-1)!.message);
    await queue.close();
  }
});

test('a dead process\'s running job whose data or opts was edited by hand fails for good when recovered, repaired and reported; the others are recovered (every recover() threw)', { timeout: 30_000, skip: missing }, async (t) => {
  for (const [field, text, named] of edits.filter(([edited]) => edited !== 'coda:outcome')) {
    const { store, admin, prefix, jobKey } = await three(t);
    // Claimed by another process that died; recovered past its lease. (A lease run out at once let BullMQ's own
    // stalled check, started with the claim, move the jobs back before the close, now and then: nothing to recover.)
    const dead = bullmqStore({ connection: { port: server().port }, prefix });
    await dead.open();
    const now = Date.now();
    const taken = await dead.claim({ owner: 'dead', names: ['work'], concurrency: {}, limit: 10, now, leaseUntil: now + 30_000 });
    assert.equal(taken.length, 3);
    await dead.close();
    await admin.hset(jobKey, field, text);
    const recovered = await store.recover(now + 60_000, () => 0.5);
    const reason = `durable task bad (job ${jobKey}) in the ${store.description} failed for good, not retried: its field ${named} ${replaced(named)}`;
    assert.deepEqual(recovered, { held: 0, running: 2, unreadable: [{ id: 'bad', reason }] }, `${field} ${text}`);
    assert.deepEqual([(await store.get('a'))?.state, (await store.get('c'))?.state], ['ready', 'ready']);
    const failed = (await store.get('bad'))!;
    assert.equal(failed.state, 'failed');
    assert.match(failed.errors.at(-1)!.message, /^stalled: dead stopped renewing its lock/);
    assert.ok(failed.errors.at(-1)!.message.endsWith(`; ${reason}`), failed.errors.at(-1)!.message);
  }
});

test('get() and list() over a job edited by hand (its opts not JSON, its backoff null) show it, the fields replaced and its last error naming them, and leave the hash as it is; they threw, hiding every task', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, admin, jobKey } = await three(t);
  const opts = '{"attempts": 3,';
  await admin.hset(jobKey, 'opts', opts, 'data', data({ backoff: null }));
  const listed = await store.list({});
  // Its place in the order is its opts' (the order added): gone with them.
  assert.deepEqual(listed.map(({ id }) => id).sort(), ['a', 'bad', 'c']);
  const shown = (await store.get('bad'))!;
  assert.deepEqual(listed.find(({ id }) => id === 'bad'), shown);
  assert.deepEqual([shown.state, shown.payload, shown.maxAttempts], ['ready', '{"n":1}', 1]);
  assert.deepEqual(shown.backoff, { type: 'exponential', delayMs: 1000 });
  assert.deepEqual(shown.errors, [{
    attempt: 0, startedAt: null, finishedAt: shown.createdAt,
    message: `durable task bad (job ${jobKey}) in the ${store.description} cannot be read as stored: its field data.backoff ("null"), its field opts ("{\\"attempts\\": 3,") `
      + 'are not valid JSON of its shape (edited by hand?), shown replaced (the backoff by the default one)',
  }]);
  assert.deepEqual(await admin.hmget(jobKey, 'opts', 'data'), [opts, data({ backoff: null })], 'left as it is');
});

test('retry() and discard() of a failed job edited by hand (its data not JSON) take it (BullMQ\'s getJob threw): retried, the next claim fails it for good again, repaired; discarded, it is gone', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, admin, jobKey } = await three(t);
  const now = Date.now();
  const claim = () => store.claim({ owner: 'me', names: ['work'], concurrency: {}, limit: 10, now: Date.now(), leaseUntil: Date.now() + 60_000 });
  assert.equal((await claim()).length, 3);
  assert.equal(await store.fail('bad', 'me', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null), true);
  await admin.hset(jobKey, 'data', '{"payload": ');
  assert.equal(await store.retry('bad', Date.now()), true);
  assert.equal((await store.get('bad'))?.state, 'ready');
  assert.deepEqual(await claim(), []);
  const failed = (await store.get('bad'))!;
  assert.equal(failed.state, 'failed');
  assert.match(failed.errors.at(-1)!.message, /^me claimed it and could not read its job; durable task bad .* its field data \("\{\\"payload\\": "\) is not valid JSON/);
  await admin.hset(jobKey, 'opts', '{');
  assert.equal(await store.discard('bad'), true);
  assert.equal(await store.get('bad'), null);
  assert.equal(await admin.exists(jobKey), 0);
});

test('a failed attempt\'s line of a job\'s log edited by hand into text that is not JSON is shown as an error saying so, and the job is claimed and runs (get(), list() and every claim of it threw)', { timeout: 30_000, skip: missing }, async (t) => {
  const { store, admin, jobKey } = await three(t);
  const claim = () => store.claim({ owner: 'me', names: ['work'], concurrency: {}, limit: 10, now: Date.now(), leaseUntil: Date.now() + 60_000 });
  assert.equal((await claim()).length, 3);
  assert.equal(await store.fail('bad', 'me', { attempt: 1, message: 'Error: declined', startedAt: 1, finishedAt: 2 }, Date.now()), true);
  await admin.lset(`${jobKey}:logs`, 0, '{"attempt": 1, "mess');
  const shown = (await store.get('bad'))!;
  assert.deepEqual(shown.errors, [{ attempt: 0, message: 'a line of the job\'s log is not valid JSON (edited by hand?): "{\\"attempt\\": 1, \\"mess"', startedAt: null, finishedAt: shown.createdAt }]);
  assert.equal((await store.list({ state: 'ready' })).length, 1);
  const [claimed, ...more] = await claim();
  assert.deepEqual([claimed?.id, claimed?.attempt, more.length], ['bad', 2, 0]);
});

test('jobs of valid but unusual settings (a fractional timeout, one of 2^31 - 1 ms, a backoff with jitter and maxDelayMs, a request, a trace, a key, when success) are listed, got, claimed and recovered as they are, none failed or flagged (a timeoutMs of 1500.5, which task() takes, failed each job for good as edited by hand)', { timeout: 30_000, skip: missing }, async (t) => {
  const prefix = `unreadable${++prefixes}`;
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  const request: RequestSnapshot = { id: 'r1', method: 'POST', path: '/orders', route: '/orders', routeName: 'orders', ip: '::1', protocol: 'https', host: 'example.com' };
  const settings: Record<string, Partial<NewTask>> = {
    fraction: { timeoutMs: 1500.5 },
    product: { timeoutMs: 0.7 * 30_000 },
    longest: { timeoutMs: 2 ** 31 - 1 },
    jitter: { backoff: { type: 'exponential', delayMs: 0.5, maxDelayMs: 10.5, jitter: 0.3 } },
    request: { request },
    trace: { trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'coda=1' } },
    key: { key: 'order:1' },
    when: { when: 'success' },
  };
  const ids = Object.keys(settings);
  await store.add(ids.map((id) => ({ ...task(id), ...settings[id] })), 'setup', Date.now() + 60_000);
  // What each setting reads back as: as added.
  const shown = ({ id, timeoutMs, backoff, request, trace, key, when }: NewTask | StoredTask) => ({ id, timeoutMs, backoff, request, trace, key, when });
  const expected = (id: string) => shown({ ...task(id), ...settings[id] });
  const listed = await store.list({});
  // Newest first.
  assert.deepEqual(listed.map((each) => [shown(each), each.errors]), ids.map((id) => [expected(id), []]).reverse());
  for (const id of ids) assert.deepEqual((await store.get(id))?.errors, [], id);
  // Claimed by a process that died, recovered past its lease, claimed again. (A lease run out at once let BullMQ's own
  // stalled check, started with the claim, move the jobs back before the close, now and then: nothing to recover.)
  const dead = bullmqStore({ connection: { port: server().port }, prefix });
  await dead.open();
  // Each as added, in any order.
  const claim = async (from: TaskStore, owner: string, now: number) => (await from.claim({ owner, names: ['work'], concurrency: {}, limit: 20, now, leaseUntil: now + 30_000 }))
    .map(shown).sort((a, b) => a.id.localeCompare(b.id));
  const all = ids.toSorted().map(expected);
  const now = Date.now();
  assert.deepEqual(await claim(dead, 'dead', now), all);
  await dead.close();
  assert.deepEqual(await store.recover(now + 60_000, () => 0.5), { held: 0, running: ids.length });
  assert.deepEqual(await claim(store, 'me', now + 120_000), all);
  for (const id of ids) {
    const got = (await store.get(id))!;
    assert.deepEqual([got.state, got.errors.length], ['running', 1], id);
    assert.match(got.errors[0]!.message, /^stalled: dead stopped renewing its lock/, id);
  }
});
