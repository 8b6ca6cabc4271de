// A BullMQ store's outage as its lines and its 503s tell it: each says its
// cause once (pino's error serializer appended the cause's message to a
// message that says it already), the cause's stack still in the line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, HttpResponse, post, runWorker, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { assertCauseOnce, LEVEL, memoryLogger } from '../helpers.js';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('a web process on a frozen Redis (SIGSTOP): its outage line and each 503 say the cause once', { skip: missing, timeout: 60_000 }, async (t) => {
  const noted = task('noted', () => {});
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'web-outage', commandTimeoutMs: 300 });
  const { logger, lines, logged } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [noted], store, run: false }, routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}))] });
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
  // The runner's sweeps (recovery) are refused too, an outage of their own (see the worker's below): the registrations' is one line.
  const errors = lines.filter((line) => line.level >= LEVEL.error && line.msg!.startsWith('durable tasks for'));
  assert.equal(errors.length, 1, `one error line for three refusals: ${errors.map((line) => line.msg).join(' | ')}`);
  assert.equal(errors[0]!.msg, `durable tasks for the ${store.description} refused: ${store.description} is unavailable: ${cause}; further refusals are counted, one line per 10 s at most`);
  assertCauseOnce(errors[0]!, `${store.description} is unavailable: ${cause}`);

  server().thaw();
  // The store's connection comes back on its own schedule, which nothing outside it announces: a bounded number of tries.
  let status = 503;
  for (let attempt = 0; attempt < 100 && status !== 200; attempt++) status = (await fetch(`${web.url}/notes`, { method: 'POST' })).status;
  assert.equal(status, 200, 'service resumed once Redis woke');
  const recovered = await logged((line) => line.level === LEVEL.warn);
  assert.match(recovered.msg!, new RegExp(`^durable tasks for the .* accepted again after \\d+\\.\\d s: \\d+ refused in all`));
});

test('a worker whose Redis is stopped: its outage line says the cause once', { skip: missing, timeout: 60_000 }, async (t) => {
  const store = bullmqStore({ connection: { port: server().port }, prefix: 'worker-outage' });
  const { logger, logged } = memoryLogger();
  const worker = await runWorker({ definitions: [task('idle', () => {})], store, logger, handleSignals: false, pollMs: 20 });
  t.after(() => worker.close({ timeoutMs: 1000 }));
  await server().kill();
  t.after(() => server().start());
  const line = await logged((candidate) => candidate.level >= LEVEL.error);
  // Which of ioredis's errors a stopped Redis gives depends on when the call came: the one the line's stack says it was.
  const cause = /\ncaused by: \w+: (.*)\n/.exec(String((line['err'] as { stack?: unknown } | undefined)?.stack))?.[1];
  assert.ok(cause !== undefined, `the line's err has its cause's stack: ${JSON.stringify(line)}`);
  assert.equal(line.msg, `durable task claims, lease renewals, recovery and pruning in the ${store.description} refused: ${store.description} is unavailable: ${cause}; further refusals are counted, one line per 10 s at most`);
  assertCauseOnce(line, `${store.description} is unavailable: ${cause}`);
});
