// A worker process frozen (SIGSTOP, as `docker pause` or a VM stall) mid-task
// past its lease, then continued (SIGCONT): another worker process recovers
// the task and runs it as attempt 2; the frozen one's late completion, made
// while that attempt still runs, records nothing (the fenced end): the task
// is completed once, by attempt 2, its stalled attempt 1 kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createApp, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { pino } from 'pino';
import { lineWorker } from '../durable/delayed-kill.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('a worker process frozen (SIGSTOP) mid-task past its lease, then continued (SIGCONT): another worker runs the task as attempt 2, and the frozen one\'s late completion, while attempt 2 runs, is refused and records nothing; the task is completed once, by attempt 2', { timeout: 60_000, skip: missing }, async (t) => {
  const prefix = 'frozen-worker';
  const fixture = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
  const env = { REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, WORKER_LEASE_MS: '1000', CODA_LOG_LEVEL: 'warn' };
  const frozen = task('frozen', () => {});
  const app = createApp({ logger: pino({ level: 'silent' }), tasks: { definitions: [frozen], store: bullmqStore({ connection: { port: server().port }, prefix }), run: false } });
  t.after(() => app.tasks.close(performance.now() + 1_000));

  const first = lineWorker(t, fixture, env);
  await first.ready;
  const started1 = first.printed(/^started 7 1 /);
  const { id } = await app.tasks.enqueue(frozen, { n: 7 });
  await started1;
  first.child.kill('SIGSTOP');

  const second = lineWorker(t, fixture, env);
  // Its lease of 1 s runs out; the second worker's sweep (every half lease) recovers it, and it claims attempt 2.
  assert.match(await second.printed(/^started 7 /), /^started 7 2 /);
  const running = await app.tasks.get(id);
  assert.equal(running?.state, 'running');
  assert.equal(running?.attempt, 2);
  assert.match(running?.errors[0]?.message ?? '', /^stalled:/);

  const refused = first.printed(/"level":40.*the completion of durable task frozen attempt 1 was not recorded/);
  first.child.kill('SIGCONT');
  await first.printed(/^ended 7 1 /);
  await refused;
  const meanwhile = await app.tasks.get(id);
  assert.deepEqual({ state: meanwhile?.state, attempt: meanwhile?.attempt, owner: meanwhile?.owner }, { state: 'running', attempt: 2, owner: running?.owner }, 'attempt 2 still runs, its claim untouched');

  second.child.kill('SIGUSR2');
  await second.printed(/^ended 7 2 /);
  // Its completion is written just after the line: a bounded number of looks at the store.
  let done = await app.tasks.get(id);
  for (let look = 0; look < 200 && done?.state !== 'completed'; look++) {
    await delay(25);
    done = await app.tasks.get(id);
  }
  assert.equal(done?.state, 'completed');
  assert.equal(done?.attempt, 2, 'completed once, by attempt 2');
  assert.equal(done?.errors.length, 1, 'attempt 1 kept as the stall, and nothing else');
  assert.equal((await app.tasks.stats()).byName.frozen?.completed, 1);
  assert.deepEqual([first.child.exitCode, second.child.exitCode], [null, null], 'both workers live on');
});
