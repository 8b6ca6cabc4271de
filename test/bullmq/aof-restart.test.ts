// Redis on its AOF (appendonly yes, appendfsync always) SIGKILLed and started
// again while a served app takes registrations from several clients at once
// and two worker processes run them: every task whose response was 202 runs
// after the restart, and none runs twice but as a later attempt (a lock that
// ran out while Redis was down is BullMQ's stall, counted as an attempt).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, createApp, HttpResponse, post, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { pino } from 'pino';
import { deferred } from '../helpers.js';
import { lineWorker } from '../durable/delayed-kill.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis({ persistent: true });

test('Redis on its AOF (fsync always) SIGKILLed and started again under a stream of registrations from eight clients: every task answered 202 runs, by two worker processes, none twice but as a later attempt', { timeout: 120_000, skip: missing }, async (t) => {
  const prefix = 'aof-restart';
  const fixture = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
  const workers = [0, 1].map(() => lineWorker(t, fixture, { REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, WORKER_LEASE_MS: '1000' }));
  await Promise.all(workers.map(({ ready }) => ready));
  const record = task('record', () => {});
  const app = createApp({
    logger: pino({ level: 'silent' }),
    routes: [post('/work/:n', (request) => {
      after(record, { n: Number(request.params.n) });
      return new HttpResponse('accepted', { status: 202 });
    })],
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix }), run: false, leaseMs: 1000 },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));

  // Registrations go on until 300 were sent and 100 accepted since Redis came back; at most 20,000 (refusals are quick).
  const accepted = new Set<number>();
  const refused = new Set<number>();
  let next = 0;
  let acceptedSinceRestart = 0;
  let restarted = false;
  const hundredAnswered = deferred();
  const firstRefused = deferred();
  const client = async (): Promise<void> => {
    while (next < 20_000 && (next < 300 || acceptedSinceRestart < 100)) {
      const n = next++;
      const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
      await response.text();
      if (response.status === 202) {
        accepted.add(n);
        if (restarted) acceptedSinceRestart++;
      } else {
        assert.equal(response.status, 503, `request ${n}`);
        refused.add(n);
        firstRefused.resolve();
      }
      if (accepted.size + refused.size === 100) hundredAnswered.resolve();
    }
  };
  const clients = Promise.all(Array.from({ length: 8 }, client));
  await hundredAnswered.promise;
  await server().kill();
  // Down until a registration has met it so (one sent to the dead connection is sent again once it is back, and taken).
  await firstRefused.promise;
  await server().start();
  restarted = true;
  await clients;
  assert.ok(acceptedSinceRestart >= 100, 'registrations resumed by themselves');

  // Every accepted task completed, nothing left to run (read from Redis, a bounded number of times): no run can come after.
  let stats = await app.tasks.stats();
  for (let look = 0; look < 600 && (stats.completed < accepted.size || stats.ready + stats.running + stats.held + stats.delayed > 0); look++) {
    await delay(50);
    stats = await app.tasks.stats();
  }
  const runs = new Map<number, number[]>();
  for (const line of workers.flatMap(({ lines }) => lines)) {
    const [word, n, , attempt] = line.split(' ');
    if (word === 'ran') runs.set(Number(n), [...runs.get(Number(n)) ?? [], Number(attempt)]);
  }
  assert.deepEqual([...accepted].filter((n) => !runs.has(n)), [], `every accepted task ran (${JSON.stringify(stats)})`);
  const twice = [...runs].filter(([, attempts]) => new Set(attempts).size !== attempts.length);
  assert.deepEqual(twice, [], 'no task ran twice as the same attempt');
  t.diagnostic(`${accepted.size} accepted, ${refused.size} refused (${[...refused].filter((n) => runs.has(n)).length} of them ran); ${[...runs.values()].filter((a) => a.length > 1).length} ran again as a later attempt`);
  assert.equal(stats.failed, 0);
});
