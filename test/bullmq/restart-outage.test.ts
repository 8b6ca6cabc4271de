// Redis restarted without persistence (`--save '' --appendonly no`) while
// tasks wait in it and one runs in a worker process: what an operator sees.
// The waiting tasks are gone (docs/bullmq.md, "Persistence": a Redis without
// it loses them); neither process crashes or spins; each logs the outage in
// one line and its end in another, however many calls were refused; the web
// process answers 503 meanwhile and takes registrations again by itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, createApp, HttpResponse, post, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { LEVEL, memoryLogger } from '../helpers.js';
import { lineWorker } from '../durable/delayed-kill.js';
import { useRedis } from './redis-server.js';

// Not persistent: a restart empties it.
const { missing, server } = useRedis();

test('Redis restarted without persistence while tasks wait and one runs in a worker process: the waiting tasks are gone, neither process crashes, each logs the outage in one line and its end in one more, 503s meanwhile, and registrations run again without a restart', { timeout: 90_000, skip: missing }, async (t) => {
  const prefix = 'restart-outage';
  const worker = lineWorker(t, fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url)), {
    REDIS_PORT: String(server().port), REDIS_PREFIX: prefix, WORKER_LEASE_MS: '1000', CODA_LOG_LEVEL: 'warn',
  });
  await worker.ready;
  const record = task('record', () => {});
  const stall = task('stall', () => {});
  const { logger, lines, logged } = memoryLogger();
  const app = createApp({
    logger,
    routes: [post('/:name/:n', (request) => {
      after(request.params.name === 'stall' ? stall : record, { n: Number(request.params.n) });
      return new HttpResponse('accepted', { status: 202 });
    })],
    tasks: { definitions: [record, stall], store: bullmqStore({ connection: { port: server().port }, prefix }), run: false, leaseMs: 1000 },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  const register = async (path: string): Promise<Response> => {
    const response = await fetch(`${web.url}${path}`, { method: 'POST' });
    await response.text();
    return response;
  };

  const started = worker.printed(/^started 1 1 /);
  assert.equal((await register('/stall/1')).status, 202);
  await started;
  for (let n = 100; n < 105; n++) await app.tasks.enqueue(record, { n }, { delayMs: 600_000 });
  assert.equal((await app.tasks.stats()).byName.record?.delayed, 5, 'five tasks wait in Redis');

  const workerDown = worker.printed(/"level":50.*is unavailable/);
  await server().kill();
  await workerDown;
  const refused = await Promise.all(Array.from({ length: 20 }, (_, n) => register(`/record/${n}`)));
  assert.deepEqual(refused.map(({ status }) => status), Array(20).fill(503), 'while Redis is away, registrations are refused');
  assert.match(refused[0]!.headers.get('retry-after') ?? '', /^\d+$/);
  // The web process's registrations and its own calls (recovery, every half lease) are one outage: one line (outage-lines.test.ts).
  await logged(({ level, msg }) => level === LEVEL.error && /^durable task calls to the .* refused: /.test(String(msg)));

  const workerUp = worker.printed(/accepted again after/);
  await server().start();
  // The store's connection comes back on its own schedule, which no event outside it announces: a bounded number of tries.
  let resumed: Response | undefined;
  for (let attempt = 0; attempt < 100 && resumed?.status !== 202; attempt++) {
    resumed = await register(`/record/${200 + attempt}`);
    if (resumed.status !== 202) await delay(50);
  }
  assert.equal(resumed?.status, 202, 'registrations are taken again once Redis is back, empty, with no restart');
  const ran = worker.printed(/^ran 300 /);
  assert.equal((await register('/record/300')).status, 202);
  await ran;
  await workerUp;
  await logged(({ msg }) => /^durable task calls to the .* accepted again after/.test(String(msg)));

  const stats = await app.tasks.stats();
  assert.equal(stats.byName.record?.delayed ?? 0, 0, 'the tasks that waited in Redis are gone with its data');
  assert.equal(worker.child.exitCode, null, 'the worker lives on');
  // One line when the outage began, one when it ended, in each process.
  const webLines = lines.filter(({ level }) => level >= LEVEL.warn).map(({ msg }) => String(msg));
  assert.equal(webLines.length, 2, webLines.join('\n'));
  assert.match(webLines[1]!, /accepted again after/);
  const workerLines = worker.lines.filter((line) => line.startsWith('{'));
  assert.equal(workerLines.length, 2, workerLines.join('\n'));
});
