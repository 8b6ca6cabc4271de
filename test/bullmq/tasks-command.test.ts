// `coda tasks retry --all-failed` on a BullMQ store: a real coda process
// walks more than a page of failed tasks, each page read from the failed
// index (docs/bullmq.md, "Known limits"), and retries every one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { bullmqStore } from 'coda-http/bullmq';
import { FAILED_PAGE } from '../../src/cli/tasks-command.js';
import { coda } from '../cli/coda.js';
import { startRedis, redisMissing } from './redis-server.js';

const fixture = fileURLToPath(new URL('./fixtures/tasks-app.ts', import.meta.url));

test('coda tasks retry --all-failed on BullMQ retries every failed task of more than a page, each page reading its own entries of the failed index (Redis\'s commands linear in the tasks, where each page looked through them all)', { timeout: 60_000, skip: redisMissing() }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = bullmqStore({ connection: { port: redis.port }, prefix: 'cli' });
  await store.open();
  t.after(() => store.close());
  const now = Date.now();
  const count = FAILED_PAGE * 2 + 1;
  await store.add(Array.from({ length: count }, (_, i) => ({
    id: `failed-${i}`, name: 'charge', payload: '{}', key: null, when: 'always' as const, maxAttempts: 1,
    backoff: { type: 'fixed' as const, delayMs: 0 }, timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  })), 'test', now + 60_000);
  const claimed = await store.claim({ owner: 'test', names: ['charge'], concurrency: {}, limit: count, now, leaseUntil: now + 60_000 });
  await Promise.all(claimed.map(({ id }) => store.fail(id, 'test', { attempt: 1, message: 'Error: declined', startedAt: now, finishedAt: now }, null)));
  const admin = new Redis({ port: redis.port });
  t.after(() => admin.disconnect());
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
