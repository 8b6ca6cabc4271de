// A BullMQ store's outage as its lines and its 503s tell it: each says its
// cause once (pino's error serializer appended the cause's message to a
// message that says it already), the cause's stack still in the line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, HttpResponse, post, runWorker, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { assertCauseOnce, deferred, LEVEL, memoryLogger } from '../helpers.js';
import { hearingRefusals } from './refusals.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('a web process on a frozen Redis (SIGSTOP): its registrations and its runner\'s sweeps are one outage, one line that says the cause once, as each 503 does, and one when it ends', { skip: missing, timeout: 60_000 }, async (t) => {
  // The runner's recovery sweeps (every half lease) that Redis refuses.
  const sweepRefused = deferred();
  const noted = task('noted', () => {});
  const store = hearingRefusals({ connection: { port: server().port }, prefix: 'web-outage', commandTimeoutMs: 300 }, 'recover', () => sweepRefused.resolve());
  const { logger, lines, logged } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [noted], store, run: false, leaseMs: 1000 }, routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}))] });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  server().freeze();
  t.after(() => server().thaw());
  const cause = `Command timed out: add() had no answer from Redis within 300 ms (the store's commandTimeoutMs), counted from the call`;
  for (let i = 0; i < 3; i++) {
    const refusal = await fetch(`${web.url}/notes`, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(refusal.headers.get('retry-after'), '1');
    assert.deepEqual(await refusal.json(), { error: { status: 503, message: `the request's durable tasks could not be journaled: ${store.description} is unavailable: ${cause}` } });
  }
  await sweepRefused.promise;
  const errors = lines.filter((line) => line.level >= LEVEL.warn);
  assert.equal(errors.length, 1, `one line for three refused registrations and the refused sweeps: ${errors.map((line) => line.msg).join(' | ')}`);
  assert.equal(errors[0]!.level, LEVEL.error);
  // The first refusal is either: a registration's (add()) or a sweep's (recover()).
  const call = /: (\w+)\(\) had no answer/.exec(errors[0]!.msg!)?.[1];
  assert.ok(call === 'add' || call === 'recover', errors[0]!.msg);
  const said = cause.replace('add()', `${call}()`);
  assert.equal(errors[0]!.msg, `durable task calls to the ${store.description} refused: ${said}; further refusals are counted, one line per 10 s at most`);
  assertCauseOnce(errors[0]!, `${store.description} is unavailable: ${said}`);

  server().thaw();
  // The store's connection comes back on its own schedule, which nothing outside it announces: a bounded number of tries.
  let status = 503;
  for (let attempt = 0; attempt < 100 && status !== 200; attempt++) status = (await fetch(`${web.url}/notes`, { method: 'POST' })).status;
  assert.equal(status, 200, 'service resumed once Redis woke');
  const recovered = await logged((line) => line.level === LEVEL.warn);
  assert.match(recovered.msg!, new RegExp(`^durable task calls to the .* accepted again after \\d+\\.\\d s: \\d+ refused in all`));
  assert.equal(lines.filter((line) => line.level >= LEVEL.warn).length, 2, 'one line when it began, one when it ended');
});

test('a worker whose Redis is stopped: its outage line says so once, in words of its own, ioredis\'s kept as the cause', { skip: missing, timeout: 60_000 }, async (t) => {
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'worker-outage' });
  const { logger, logged } = memoryLogger();
  const worker = await runWorker({ definitions: [task('idle', () => {})], store, logger, handleSignals: false, pollMs: 20 });
  t.after(() => worker.close({ timeoutMs: 1000 }));
  await server().kill();
  t.after(() => server().start());
  const line = await logged((candidate) => candidate.level >= LEVEL.error);
  const reason = 'no connection to Redis: it was lost, and is not made again yet';
  const said = `${store.description} is unavailable: ${reason}`;
  assert.equal(line.msg, `durable task calls to the ${store.description} refused: ${reason}; further refusals are counted, one line per 10 s at most`);
  // ioredis's words (which depend on when the call came: "Reached the max retries per request limit (which is 1). Refer
  // to "maxRetriesPerRequest" option for details.", an option the store sets, or "Connection is closed.") follow once.
  const cause = /\ncaused by: \w+: (.*)\n/.exec(String((line['err'] as { stack?: unknown } | undefined)?.stack))?.[1];
  assert.ok(cause !== undefined, `the line's err has its cause's stack: ${JSON.stringify(line)}`);
  assertCauseOnce(line, `${said}: ${cause}`);
});
