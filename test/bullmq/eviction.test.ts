// A Redis whose maxmemory-policy may evict keys: once full, it drops jobs,
// locks and queue lists instead of refusing writes (docs/bullmq.md,
// "Deploying Redis"). Each process that runs the store says so once, in its
// own log, naming the policy. BullMQ's warning went to the console only,
// once for each task name's queue and worker, and Coda's log said nothing;
// it is left out now.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, runWorker, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { Redis } from 'ioredis';
import { LEVEL, memoryLogger } from '../helpers.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

const names = ['a', 'b', 'c'].map((name) => task(name, () => {}));

/** The warn lines of a web process (an app that runs its tasks) and of a runWorker() on `prefix`, each having run a task of every name. */
async function warningsOf(prefix: string): Promise<string[][]> {
  const store = () => bullmqStore({ connection: { port: server().port }, prefix });
  const web = memoryLogger();
  const app = createApp({ logger: web.logger, tasks: { definitions: names, store: store(), pollMs: 50 } });
  try {
    for (const name of names) await app.tasks.enqueue(name, {});
    await app.settle();
  } finally {
    await app.tasks.close(performance.now() + 2_000);
  }
  const worker = memoryLogger();
  const running = await runWorker({ definitions: names, store: store(), logger: worker.logger, handleSignals: false, pollMs: 50 });
  await running.close({ timeoutMs: 1_000 });
  return [web, worker].map(({ lines }) => lines.filter(({ level }) => level === LEVEL.warn).map(({ msg }) => String(msg)));
}

test('a Redis whose maxmemory-policy evicts keys (allkeys-lru) is named in one warning by each process that runs the store, however many task queues it uses; none on noeviction', { timeout: 60_000, skip: missing }, async (t) => {
  assert.deepEqual(await warningsOf('noeviction'), [[], []], 'noeviction: nothing to say');
  const admin = new Redis({ port: server().port });
  t.after(async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    admin.disconnect();
  });
  await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
  // BullMQ's own warning, on the console, is left out (the store's Queue and Worker skip BullMQ's check at open).
  const console: unknown[][] = [];
  t.mock.method(globalThis.console, 'warn', (...line: unknown[]) => void console.push(line));
  const [web, worker] = await warningsOf('evicting');
  assert.deepEqual(console, [], 'nothing on the console');
  for (const lines of [web!, worker!]) {
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /^Redis at redis:\/\/127\.0\.0\.1:\d+\/0 has maxmemory-policy allkeys-lru: once full, it evicts keys .* a durable task is then lost or run twice; set maxmemory-policy noeviction/);
  }
});
