// The store's connections to Redis as they open, against a real redis-server:
// the checks made once at open, and the connections opened later for BullMQ's
// workers met by a Redis that does not answer in time (frozen, overloaded, a
// slow link), through a TCP relay that holds a chosen command back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { bullmqStore } from 'coda-http/bullmq';
import { Redis } from 'ioredis';
import { checkVersion } from '../../src/bullmq/connection.js';
import { relay } from './relay.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('a task name\'s first fetch on a Redis that answers a new connection\'s second INFO (BullMQ\'s version check) only past commandTimeoutMs: the claims go on working, where that one timeout broke the name\'s worker for good (every claim refused at once, the process\'s tasks never run)', { timeout: 30_000, skip: missing }, async (t) => {
  const relayed = await relay(server().port);
  t.after(() => relayed.close());
  const store = bullmqStore({ connection: { port: relayed.port }, prefix: 'slow-info', commandTimeoutMs: 500 });
  await store.open();
  t.after(() => store.close());
  const now = Date.now();
  await store.add([{
    id: 'first-1', name: 'first', payload: '{}', key: null, when: 'always', maxAttempts: 1, backoff: { type: 'fixed', delayMs: 0 },
    timeoutMs: 1000, held: false, runAt: now, request: null, trace: null,
  }], 'web', now + 60_000);
  // Each connection opened from now on (the name's worker's): its first INFO is ioredis's ready check, its second
  // BullMQ's version check, held past the timeout.
  relayed.delayEach('$4\r\ninfo\r\n', 2, 1_000);
  const refusals: string[] = [];
  let claimed: string[] = [];
  // A bounded number of claims, as a runner polls.
  for (let poll = 0; poll < 30 && claimed.length === 0; poll++) {
    try {
      claimed = (await store.claim({ owner: 'worker', names: ['first'], concurrency: {}, limit: 1, now: Date.now(), leaseUntil: Date.now() + 60_000 })).map(({ id }) => id);
    } catch (error) {
      refusals.push((error as Error).message);
      await delay(100);
    }
  }
  assert.deepEqual(claimed, ['first-1'], `claimed at last; refused ${refusals.length} times: ${JSON.stringify(refusals.slice(0, 3))}`);
});

test('checkVersion() refuses a Redis older than BullMQ supports, naming its version and the one needed, and tells one older than BullMQ recommends; versions compare part by part as numbers', { skip: missing }, async (t) => {
  const client = new Redis({ port: server().port, lazyConnect: true });
  await client.connect();
  t.after(() => client.disconnect());
  const address = `redis://127.0.0.1:${server().port}/0`;
  const version = /^redis_version:(\S+)/m.exec(await client.info('server'))![1]!;
  const [major, minor] = version.split('.').map(Number);
  // Needed: a major version with more digits, and a first digit below this one's (60 for 7), which compared as
  // text would come before it.
  const needed = `${major! - 1}0.0.0`;
  await assert.rejects(checkVersion(client, address, { minimumVersion: needed, recommendedMinimumVersion: needed }), {
    message: `Redis at ${address} is version ${version}: BullMQ needs ${needed} or later`,
  });
  const later = `${major}.${minor! + 10}`;
  assert.equal(await checkVersion(client, address, { minimumVersion: '5.0.0', recommendedMinimumVersion: later }), `Redis at ${address} is version ${version}: BullMQ recommends ${later} or later`);
  assert.equal(await checkVersion(client, address, { minimumVersion: '5.0.0', recommendedMinimumVersion: version }), undefined);
});
