// Chaos across processes on one Redis, as an operator's chaos test does it on
// the distributed store: two web processes and two workers on one prefix,
// one SIGKILLed at random every 0.5-1.5 s under load and started again
// (test/durable/chaos-run.ts, as on one SQLite file: test/durable/chaos.test.ts),
// and once Redis itself, on its AOF. Then, once they drain, the store's
// stats() agree with what ran: every task that ran completed, nothing is left.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { bullmqStore } from 'coda-http/bullmq';
import type { StoreStats } from 'coda-http';
import { runChaos, runsIn, type ChaosOptions } from '../durable/chaos-run.js';
import { useRedis } from './redis-server.js';

// Persistent (AOF, fsync always), as docs/bullmq.md asks for durability: a Redis killed and started again lost nothing it acknowledged.
const { missing, server } = useRedis({ persistent: true });

/** Runs the chaos on `prefix`, then waits (bounded) for the store to hold nothing left to run, and checks its stats() against the runs. */
async function chaosOnRedis(t: TestContext, prefix: string, options: Pick<ChaosOptions, 'fault' | 'allowed'>): Promise<{ allowedAnswers: number }> {
  const logs = mkdtempSync(path.join(tmpdir(), 'coda-chaos-logs-'));
  t.after(() => rmSync(logs, { recursive: true, force: true }));
  const store = bullmqStore({ connection: { port: server().port }, prefix });
  await store.open();
  t.after(() => store.close());
  const where = (tasks: { n: number; id: string }[]): Promise<unknown> => Promise.all(tasks.map(async ({ n, id }) => {
    const stored = await store.get(id);
    const now = Date.now();
    return stored === null ? { n, id, stored: 'nothing' } : {
      n, id, state: stored.state, attempt: stored.attempt, owner: stored.owner, leaseInMs: stored.leaseUntil === null ? null : stored.leaseUntil - now,
      runAtInMs: stored.runAt - now, errors: stored.errors.map(({ attempt, message }) => `${attempt}: ${message}`),
    };
  }));
  const { allowedAnswers, stop } = await runChaos(t, {
    env: { CHAOS_REDIS_PORT: String(server().port), CHAOS_PREFIX: prefix, CHAOS_LOGS: logs }, kills: 6, where, ...options,
  });
  // Tasks whose request died with its web process may still be held until their lease runs out: read from Redis, a bounded number of times.
  const settled = (stats: StoreStats): boolean => stats.held + stats.ready + stats.delayed + stats.running === 0 && stats.completed === runsIn(logs).size;
  let stats = await store.stats(Date.now());
  for (let look = 0; look < 200 && !settled(stats); look++) {
    await delay(100);
    stats = await store.stats(Date.now());
  }
  await stop();
  const runs = runsIn(logs);
  assert.deepEqual({ ...stats, byName: undefined }, { held: 0, ready: 0, delayed: 0, running: 0, completed: runs.size, failed: 0, byName: undefined },
    `stats() as every task that ran (${runs.size}) completed, nothing left`);
  return { allowedAnswers };
}

test('two web processes and two workers on one Redis, one SIGKILLed at random every 0.5-1.5 s under load and started again, six times: every task of every 202 received runs, a second run only as a later attempt, no request hangs, no process dies of its own, and stats() agree with what ran', { timeout: 90_000, skip: missing }, async (t) => {
  await chaosOnRedis(t, 'chaos-kills', {});
});

test('the same chaos with Redis itself SIGKILLed once in the middle and started again on its AOF: requests meanwhile get 503, never a hang, and every task of every 202 received runs, stats() agreeing', { timeout: 90_000, skip: missing }, async (t) => {
  const { allowedAnswers } = await chaosOnRedis(t, 'chaos-redis', {
    // Down for a second, the load meeting it.
    fault: { at: 3, make: async () => { await server().kill(); await delay(1_000); await server().start(); } },
    allowed: { status: 503, errors: /^\w+ \d+: 50 durable task calls to the bullmq store .* refused: / },
  });
  t.diagnostic(`${allowedAnswers} answered 503 while Redis was down`);
  assert.ok(allowedAnswers > 0, 'the load met Redis down');
});
