// The signup example (examples/fastify-signup): a Fastify app with Coda
// registered, tested as Fastify apps are, with fastify.inject() and with a real
// listen, its durable task journaled in a SQLite file; and a Koa app beside it.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ShutdownReport, TaskFailure } from 'coda-http';
import { signupApp, type AnalyticsEvent } from '../../examples/fastify-signup/app.js';
import { koaSignupApp } from '../../examples/fastify-signup/koa.js';
import type { Mailer, WelcomePayload } from '../../examples/fastify-signup/tasks.js';

/** What the app's dependencies saw: the mails sent, the events tracked, the task failures reported. */
interface Seen {
  mails: { payload: WelcomePayload; key: string }[];
  events: AnalyticsEvent[];
  failures: TaskFailure[];
}

/** The app on a SQLite file of its own; `mailer` and `track` default to ones that succeed. Closed at the test's end. */
async function start(t: TestContext, overrides: { mailer?: Mailer; track?: (event: AnalyticsEvent) => void | Promise<void> } = {}): Promise<{ fastify: FastifyInstance; seen: Seen }> {
  const dir = await mkdtemp(join(tmpdir(), 'coda-fastify-signup-'));
  const seen: Seen = { mails: [], events: [], failures: [] };
  const fastify = await signupApp({
    tasksPath: join(dir, 'tasks.db'),
    mailer: overrides.mailer ?? (async (payload, key) => { seen.mails.push({ payload, key }); }),
    track: overrides.track ?? ((event) => { seen.events.push(event); }),
    onTaskError: (failure) => { seen.failures.push(failure); },
  });
  t.after(async () => {
    await fastify.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { fastify, seen };
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => { resolve = done; });
  return { promise, resolve };
}

/** Listens on 127.0.0.1, port 0; the base URL. */
async function listen(fastify: FastifyInstance): Promise<string> {
  await fastify.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
}

test('inject(): a signup answers 201, then its durable welcome email and its analytics event run once each, after the response', async (t) => {
  const { fastify, seen } = await start(t);
  const res = await fastify.inject({ method: 'POST', url: '/signup', payload: { email: 'ada@example.com' } });
  assert.equal(res.statusCode, 201, res.body);
  const user = res.json<{ id: string; welcomeTask: string }>();
  await fastify.coda.app.settle();

  assert.deepEqual(seen.mails, [{ payload: { userId: user.id, email: 'ada@example.com' }, key: user.welcomeTask }]);
  const stored = await fastify.coda.app.tasks.get(user.welcomeTask);
  assert.equal(stored?.state, 'completed');
  assert.equal(stored?.attempt, 1);
  assert.equal(stored?.key, 'welcome:ada@example.com');
  assert.equal(stored?.outcome?.status, 201);

  assert.equal(seen.events.length, 1);
  const [event] = seen.events;
  assert.equal(event?.event, 'signup');
  assert.equal(event?.outcome.status, 201);
  assert.equal(event?.outcome.completed, true);
  assert.equal(event?.outcome.bytesSent, Buffer.byteLength(res.body));
  assert.deepEqual(seen.failures, []);
});

test('inject(): a handler that throws after registering a when: "success" task answers 500 and the task is skipped', async (t) => {
  const { fastify, seen } = await start(t);
  const res = await fastify.inject({ method: 'POST', url: '/import' });
  assert.equal(res.statusCode, 500);
  await fastify.coda.app.settle();
  assert.deepEqual(seen.events, []);
  assert.equal(fastify.coda.app.afterStats().skipped, 1);
  assert.equal(fastify.coda.app.afterStats().completed, 0);
});

test('inject(): a welcome email whose mailer fails twice is retried, each failure kept on the task; a failing analytics task is reported to onError', async (t) => {
  let calls = 0;
  const retried = signal();
  const { fastify, seen } = await start(t, {
    mailer: async () => {
      calls++;
      if (calls < 3) throw new Error(`mail provider down (${calls})`);
      retried.resolve();
    },
    track: () => { throw new Error('analytics endpoint refused the event'); },
  });
  const res = await fastify.inject({ method: 'POST', url: '/signup', payload: { email: 'grace@example.com' } });
  assert.equal(res.statusCode, 201, res.body);
  // settle() runs what is due and returns: on the app's own clock, a retry 20 ms ahead is not waited for.
  await retried.promise;
  await fastify.coda.app.settle();

  assert.equal(calls, 3);
  const stored = await fastify.coda.app.tasks.get(res.json<{ welcomeTask: string }>().welcomeTask);
  assert.equal(stored?.state, 'completed');
  assert.equal(stored?.attempt, 3);
  assert.deepEqual(stored?.errors.map((error) => [error.attempt, error.message]), [
    [1, 'Error: mail provider down (1)'],
    [2, 'Error: mail provider down (2)'],
  ]);

  assert.equal(seen.failures.length, 1);
  assert.equal(seen.failures[0]?.name, 'signup-analytics');
  assert.match(String(seen.failures[0]?.error), /analytics endpoint refused the event/);
  assert.equal(fastify.coda.app.afterStats().failed, 1);
});

test('a real listen: a client that leaves mid-stream gives the stream route\'s task outcome.aborted', async (t) => {
  const { fastify, seen } = await start(t);
  const base = await listen(fastify);
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${base}/ticks`, (res) => {
      res.once('data', (chunk: Buffer) => {
        assert.match(chunk.toString(), /^tick 0\n/);
        req.destroy();
        resolve();
      });
    });
    req.on('error', (error) => { if (!req.destroyed) reject(error); });
    req.end();
  });
  await fastify.coda.app.settle();
  assert.equal(seen.events.length, 1);
  const [event] = seen.events;
  assert.equal(event?.event, 'ticks');
  assert.equal(event?.outcome.status, 200);
  assert.equal(event?.outcome.aborted, true);
  assert.equal(event?.outcome.completed, false);
  assert.ok((event?.outcome.bytesSent ?? 0) > 0, 'the head and the first tick went out');
});

test('a real listen: a hijacked reply written by hand runs its task once it is sent, completed', async (t) => {
  const { fastify, seen } = await start(t);
  const base = await listen(fastify);
  const res = await fetch(`${base}/legacy`);
  assert.equal(await res.text(), 'written by hand');
  await fastify.coda.app.settle();
  assert.equal(seen.events.length, 1);
  assert.equal(seen.events[0]?.event, 'legacy');
  assert.equal(seen.events[0]?.outcome.status, 200);
  assert.equal(seen.events[0]?.outcome.completed, true);
});

/** Closes the app as a deploy does: the shutdown report, or null where the way of closing gives none. */
const closers: [string, (fastify: FastifyInstance) => Promise<ShutdownReport | null>][] = [
  ['fastify.close()', async (fastify) => { await fastify.close(); return null; }],
  ['fastify.coda.close()', (fastify) => fastify.coda.close({ timeoutMs: 10_000 })],
];

for (const [how, close] of closers) {
  test(`${how} drains the tasks: the welcome email and the analytics event running when the close begins finish first`, async (t) => {
    const closing = signal();
    const started = { mail: signal(), analytics: signal() };
    const finished: string[] = [];
    // Each finishes only once the close has begun: a close that did not wait for them would resolve before they do.
    const { fastify } = await start(t, {
      mailer: async () => { started.mail.resolve(); await closing.promise; finished.push('welcome-email'); },
      track: async () => { started.analytics.resolve(); await closing.promise; finished.push('signup-analytics'); },
    });
    fastify.addHook('preClose', (done) => { closing.resolve(); done(); });
    const base = await listen(fastify);
    const res = await fetch(`${base}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'lin@example.com' }) });
    assert.equal(res.status, 201);
    // Both running: a durable task only released as the close begins is left ready in the store, for the next start.
    await Promise.all([started.mail.promise, started.analytics.promise]);

    const report = await close(fastify);
    assert.deepEqual(finished.toSorted(), ['signup-analytics', 'welcome-email']);
    if (report === null) return;
    assert.deepEqual(report.tasksAbandoned, []);
    assert.deepEqual(report.tasksLeftInStore, []);
    assert.equal(report.tasksCompleted, 1, 'the after() task; the durable one is not counted there');
  });
}

test('Koa: ctx.after() runs once after the response, over a real socket; the attached server\'s close drains', async () => {
  const events: AnalyticsEvent[] = [];
  const { app, tasks } = koaSignupApp((event) => { events.push(event); });
  const server = app.listen(0, '127.0.0.1');
  const attached = tasks.attach(server, { handleSignals: false });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/signup`, { method: 'POST' });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { ok: true });
  await tasks.app.settle();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.event, 'koa-signup');
  assert.equal(events[0]?.outcome.status, 201);
  assert.equal(events[0]?.outcome.completed, true);
  const report = await attached.close({ timeoutMs: 10_000 });
  assert.deepEqual(report.tasksAbandoned, []);
});
