import assert from 'node:assert/strict';
import { test } from 'node:test';
import { after, createApp, get, HttpResponse, signals, task } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { memoryLogger, unreadable } from '../helpers.js';

test("each app has its own signals: a receiver hears its app's requests only, and shows in that app's test client only", async () => {
  const heard: string[] = [];
  const a = createApp({ routes: [get('/', () => new HttpResponse('a'))] });
  const b = createApp({ routes: [get('/', () => new HttpResponse('b'))] });
  a.signals.requestStarted.connect(({ request }) => { heard.push(`a started ${request.path}`); });
  a.signals.requestFinished.connect(function auditA({ response }) { heard.push(`a finished ${response.status}`); });
  const clientA = createTestClient(a);
  const clientB = createTestClient(b);
  await clientA.get('/');
  await clientB.get('/');
  await clientA.settle();
  await clientB.settle();
  assert.deepEqual(heard, ['a started /', 'a finished 200']);
  assert.deepEqual(clientA.tasks.map((t) => t.name), ['requestFinished:auditA']);
  assert.deepEqual(clientB.tasks, []);
});

test('the process-wide signals hear every app, after the app\'s own receivers', async (t) => {
  const heard: string[] = [];
  const a = createApp({ routes: [get('/', () => new HttpResponse('a'))] });
  const b = createApp({ routes: [get('/', () => new HttpResponse('b'))] });
  a.signals.requestFinished.connect(() => { heard.push('a own'); });
  const disconnect = signals.requestFinished.connect(({ response }) => { heard.push(`process ${String(response.body)}`); });
  t.after(disconnect);
  await createTestClient(a).get('/');
  await a.settle();
  await createTestClient(b).get('/');
  await b.settle();
  assert.deepEqual(heard, ['a own', 'process a', 'process b']);
});

test('connect() of something that is not a function, or of a generator function, is a TypeError naming it: null read "got object"', () => {
  const app = createApp({ routes: [] });
  assert.throws(() => app.signals.requestFinished.connect(null as never), { name: 'TypeError', message: 'signals.requestFinished.connect() takes a function, got null' });
  assert.throws(() => signals.requestStarted.connect('audit' as never), { name: 'TypeError', message: 'signals.requestStarted.connect() takes a function, got string "audit"' });
  // Called, a generator function runs none of its body: the receiver "ran" for every request with nothing done.
  assert.throws(() => app.signals.requestFinished.connect(function* audit() { /* never runs */ } as never), {
    name: 'TypeError', message: 'signals.requestFinished.connect() takes a function whose call does the work, got a generator function (audit): calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }',
  });
  // Called without new, a class threw for every request.
  class Audit {}
  assert.throws(() => app.signals.requestStarted.connect(Audit as never), {
    name: 'TypeError', message: 'signals.requestStarted.connect() takes a function whose call does the work, got a class (Audit), which cannot be called without new; pass a function that uses it',
  });
  assert.deepEqual([app.signals.requestStarted.receivers.length, app.signals.requestFinished.receivers.length], [0, 0]);
});

test('connect() of a receiver that cannot be read (a Proxy whose traps throw) is a TypeError saying so, with the trap\'s error as its cause; disconnect() of it is false', () => {
  const app = createApp({ routes: [] });
  const trap = new Error('get trap');
  const hostile = new Proxy(() => {}, {
    get() { throw trap; },
    getOwnPropertyDescriptor() { throw new Error('descriptor trap'); },
  });
  for (const signal of [app.signals.requestStarted, app.signals.requestFinished]) {
    assert.throws(() => signal.connect(hostile), (error: Error) => {
      assert.equal(error.name, 'TypeError');
      assert.match(error.message, /^signals\.request(Started|Finished)\.connect\(\) takes a function it can read, got one whose reading threw \(a Proxy whose trap throws\?\): get trap$/);
      assert.equal(error.cause, trap);
      return true;
    });
    assert.equal(signal.disconnect(hostile), false);
    assert.equal(signal.receivers.length, 0);
  }
  // The same check guards every function that does work: a durable task's too.
  assert.throws(() => task('audit', hostile), { name: 'TypeError', message: "task('audit') takes a function it can read, got one whose reading threw (a Proxy whose trap throws?): get trap" });
});

test('receivers is a frozen list: a receiver pushed onto it (which would never have run) is a TypeError, and the signal is unchanged', async () => {
  const app = createApp({ routes: [get('/', () => new HttpResponse('ok'))] });
  const heard: string[] = [];
  app.signals.requestFinished.connect(() => {
    heard.push('connected');
  });
  assert.throws(() => (app.signals.requestFinished.receivers as (() => void)[]).push(() => {
    heard.push('pushed');
  }), TypeError);
  const client = createTestClient(app);
  await client.get('/');
  await client.settle();
  assert.deepEqual([heard, app.signals.requestFinished.receivers.length], [['connected'], 1]);
});

test('settle() waits for an async requestStarted receiver, its after() past a real wait included, and names one that never ends', async () => {
  const audit: string[] = [];
  const ran: string[] = [];
  const app = createApp({ routes: [get('/x', () => new HttpResponse('x')), get('/hangs', () => new HttpResponse('h'))] });
  app.signals.requestStarted.connect(async function auditStart({ request }) {
    if (request.path === '/hangs') return new Promise(() => {});
    // An audit store's round trip: the response is sent long before it ends.
    await new Promise((resolve) => setTimeout(resolve, 30));
    audit.push(request.path);
    after(() => { ran.push('registered after the wait'); });
  });
  const client = createTestClient(app);
  assert.equal((await client.get('/x')).status, 200);
  await client.settle();
  assert.deepEqual(audit, ['/x']);
  assert.deepEqual(ran, ['registered after the wait']);
  assert.equal((await client.get('/hangs')).status, 200);
  await assert.rejects(client.settle({ timeoutMs: 100 }), (error: Error) => {
    assert.match(error.message, /still waiting for:\n {2}requestStarted receiver auditStart: running \(request [^)]+: GET \/hangs\)$/);
    return true;
  });
  // Waited for as long as a task may run (after.timeoutMs), then let go and logged: it holds nothing for good.
  const { logger, lines } = memoryLogger();
  const bounded = createApp({ logger, after: { timeoutMs: 50 }, routes: [get('/', () => new HttpResponse('ok'))] });
  bounded.signals.requestStarted.connect(function neverEnds() { return new Promise<void>(() => {}); });
  const boundedClient = createTestClient(bounded);
  await boundedClient.get('/');
  await boundedClient.settle({ timeoutMs: 2_000 });
  const line = lines.find((l) => l.receiver === 'neverEnds');
  assert.equal(line?.msg, 'a requestStarted receiver still running after 50 ms (after.timeoutMs): no longer waited for');
  assert.equal(typeof line?.requestId, 'string');
});

test('a requestStarted receiver that throws or rejects with a value the logger cannot read (a Proxy): the line is written without it, the request answered, the next receiver run', async () => {
  const { logger, lines } = memoryLogger();
  const hostile = unreadable();
  const heard: string[] = [];
  const app = createApp({ logger, routes: [get('/', () => new HttpResponse('ok'))] });
  app.signals.requestStarted.connect(function throwsHostile() { throw hostile; });
  app.signals.requestStarted.connect(async function rejectsHostile() { throw hostile; });
  app.signals.requestStarted.connect(({ request }) => { heard.push(request.path); });
  await using client = createTestClient(app);
  assert.equal((await client.get('/')).status, 200);
  await client.settle();
  assert.deepEqual(heard, ['/']);
  assert.deepEqual(lines.filter((l) => l.level === 50).map((l) => [l.msg, l.logFailed]), [
    ['a requestStarted receiver failed', 'get trap'],
    ['a requestStarted receiver failed', 'get trap'],
  ]);
});
