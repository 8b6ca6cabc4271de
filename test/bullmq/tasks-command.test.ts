// `coda tasks retry --all-failed` on a BullMQ store: a real coda process
// walks more than a page of failed tasks, each page read from the failed
// index (docs/bullmq.md, "Known limits"), and retries every one; `coda tasks`
// over a job edited by hand.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { bullmqStore } from 'coda-http/bullmq';
import { FAILED_PAGE } from '../../src/cli/tasks-command.js';
import { coda } from '../cli/coda.js';
import { startRedis, redisMissing } from './redis-server.js';

const fixture = fileURLToPath(new URL('./fixtures/tasks-app.ts', import.meta.url));

/** A Redis of the test's own, a store on `prefix` holding `ids` as failed tasks of 'charge', and an admin connection: all stop when the test ends. */
async function failedTasks(t: TestContext, prefix: string, ids: readonly string[]) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = bullmqStore({ connection: { port: redis.port }, prefix });
  await store.open();
  t.after(() => store.close());
  const now = Date.now();
  await store.add(ids.map((id) => ({
    id, name: 'charge', payload: '{}', key: null, when: 'always' as const, maxAttempts: 1,
    backoff: { type: 'fixed' as const, delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  })), 'test', now + 60_000);
  const claimed = await store.claim({ owner: 'test', names: ['charge'], concurrency: {}, limit: ids.length, now, leaseUntil: now + 60_000 });
  await Promise.all(claimed.map(({ id }) => store.fail(id, 'test', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null)));
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
  return { redis, store, admin };
}

test('coda tasks retry --all-failed on BullMQ retries every failed task of more than a page, each page reading its own entries of the failed index (Redis\'s commands linear in the tasks, where each page looked through them all)', { timeout: 60_000, skip: redisMissing() }, async (t) => {
  const count = FAILED_PAGE * 2 + 1;
  const { redis, store, admin } = await failedTasks(t, 'cli', Array.from({ length: count }, (_, i) => `failed-${i}`));
  await admin.config('RESETSTAT');

  const cli = coda(['tasks', 'retry', fixture, '--all-failed', '--json'], { REDIS_PORT: String(redis.port), REDIS_PREFIX: 'cli' });
  assert.equal(await cli.exited, 0, cli.stderr.join('\n'));
  assert.equal((JSON.parse(cli.stdout.join('\n')) as { retried: string[] }).retried.length, count);
  const commands = await admin.info('commandstats');
  const calls = (name: string): number => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(commands)?.[1] ?? 0);
  // Two a task, both the retry's (BullMQ's script, and the index entry's order); before the index, each of the three
  // pages also looked through all 2,001 failed jobs' order, an HMGET each: 6,003 more.
  assert.ok(calls('hmget') <= count * 2, `${calls('hmget')} HMGETs for ${count} tasks`);
  assert.equal(calls('zrevrangebylex'), 3, 'one read of the index per page');
  assert.equal((await store.stats(Date.now())).failed, 0);
});

test('coda tasks list, retry and discard on BullMQ take a failed job whose data and opts were edited by hand into text that is not JSON (each threw on it: the listing hid every task)', { timeout: 60_000, skip: redisMissing() }, async (t) => {
  const { redis, admin } = await failedTasks(t, 'edited', ['good', 'bad']);
  await admin.hset('edited:charge:bad', 'data', '{"payload": ', 'opts', '{');
  const env = { REDIS_PORT: String(redis.port), REDIS_PREFIX: 'edited' };

  const list = coda(['tasks', 'list', fixture, '--json'], env);
  assert.equal(await list.exited, 0, list.stderr.join('\n'));
  const listed = JSON.parse(list.stdout.join('\n')) as { id: string; payload: string; errors: { message: string }[] }[];
  assert.deepEqual(listed.map(({ id }) => id).sort(), ['bad', 'good']);
  const bad = listed.find(({ id }) => id === 'bad')!;
  assert.equal(bad.payload, '{"payload": ', 'the data\'s text kept whole, as the payload');
  assert.match(bad.errors.at(-1)!.message, /cannot be read as stored: its field data \("\{\\"payload\\": "\), its field opts \("\{"\) are not valid JSON of its shape \(edited by hand\?\), shown replaced/);
  const retry = coda(['tasks', 'retry', fixture, 'bad', '--json'], env);
  assert.equal(await retry.exited, 0, retry.stderr.join('\n'));
  assert.deepEqual(JSON.parse(retry.stdout.join('\n')), { retried: ['bad'], refused: [] });
  await admin.hset('edited:charge:good', 'data', '{');
  const discard = coda(['tasks', 'discard', fixture, 'good', '--json'], env);
  assert.equal(await discard.exited, 0, discard.stderr.join('\n'));
  assert.deepEqual(JSON.parse(discard.stdout.join('\n')), { discarded: ['good'], refused: [] });
});
