// A task store that refuses writes is logged as one outage, not a line per
// refused request: the first failure, at most one summary per interval, and
// one line when it takes tasks again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { after, createApp, HttpResponse, post, runWorker, serve, sqliteStore, StoreUnavailable, task, type TaskStore, type View } from 'coda-http';
import { pino } from 'pino';
import { assertCauseOnce, deferred, LEVEL, memoryLogger, type LogLine } from '../helpers.js';
import { OutageLog } from '../../src/log/outage-log.js';
import { intercepting, type StoreCall } from './intercepting.js';
import { openResponse } from './open-response.js';

/** What a process logged at warn or worse for one outage of the SQLite file `file` (locked): its first line and its end, nothing else. */
function assertOneLockedOutage(lines: readonly { level: number; msg?: unknown }[], file: string): void {
  const said = lines.filter((line) => line.level >= LEVEL.warn).map((line) => `${line.level} ${String(line.msg)}`);
  assert.equal(said.length, 2, said.join('\n'));
  assert.match(said[0]!, new RegExp(`^50 durable task calls to the sqlite store ${file} refused: database is locked; further refusals are counted`));
  assert.match(said[1]!, new RegExp(`^40 durable task calls to the sqlite store ${file} accepted again after \\d+\\.\\d s: \\d+ refused in all`));
}

const noted = task('noted', () => {});

/** A web process on the SQLite file whose POST /notes is `view`, served, its file locked: what it logs, and the lock. */
async function lockedFile(t: TestContext, view: View): Promise<{ file: string; url: string; lines: LogLine[]; locker: DatabaseSync }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const { logger, lines } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [noted], store: sqliteStore({ path: file, busyTimeoutMs: 20 }) }, routes: [post('/notes', view)] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close());
  // Another connection holds the write lock past the busy timeout: the file cannot be written.
  const locker = new DatabaseSync(file);
  t.after(() => locker.close());
  locker.exec('BEGIN EXCLUSIVE');
  return { file, url: server.url, lines, locker };
}

test('a locked SQLite file: each request gets its 503, the log one error line for the outage and one when it ends', async (t) => {
  const { file, url, lines, locker } = await lockedFile(t, () => new HttpResponse('saved').after(noted, {}));
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${url}/notes`, { method: 'POST' })).status, 503);

  const errors = lines.filter((line) => line.level >= LEVEL.error);
  assert.equal(errors.length, 1, `one error line for five refusals: ${errors.map((line) => line.msg).join(' | ')}`);
  assert.match(errors[0]!.msg!, new RegExp(`^durable task calls to the sqlite store ${file} refused: database is locked; further refusals are counted, one line per 10 s at most$`));
  assertCauseOnce(errors[0]!, `sqlite store ${file} is unavailable: database is locked`);
  const refusal = await fetch(`${url}/notes`, { method: 'POST', headers: { accept: 'application/json' } });
  assert.equal(refusal.headers.get('retry-after'), '1');
  assert.deepEqual(await refusal.json(), { error: { status: 503, message: `the request's durable tasks could not be journaled: sqlite store ${file} is unavailable: database is locked` } });
  assert.equal(lines.filter((line) => line.level === LEVEL.debug && /could not be journaled/.test(String(line.msg))).length, 6, 'each refused request at debug level');

  locker.exec('ROLLBACK');
  assert.equal((await fetch(`${url}/notes`, { method: 'POST' })).status, 200);
  const recovered = lines.filter((line) => line.level === LEVEL.warn);
  assert.equal(recovered.length, 1);
  assert.match(recovered[0]!.msg!, new RegExp(`^durable task calls to the sqlite store ${file} accepted again after \\d+\\.\\d s: 6 refused in all, 5 of them since the last line$`));
  assert.equal(lines.filter((line) => line.level >= LEVEL.error).length, 1, 'nothing more at error level');
});

test('a locked SQLite file under a view that awaits its after() (for the task\'s id) and lets the refusal through: each request gets its 503, the log still one error line for the outage, not an "unhandled error in view" line a request', async (t) => {
  const { file, url, lines, locker } = await lockedFile(t, async () => new HttpResponse((await after(noted, {})).id, { status: 202 }));
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${url}/notes`, { method: 'POST' })).status, 503);
  locker.exec('ROLLBACK');
  assert.equal((await fetch(`${url}/notes`, { method: 'POST' })).status, 202);
  assertOneLockedOutage(lines, file);
  assert.equal(lines.filter((line) => line.level === LEVEL.debug && /^sqlite store .* is unavailable: database is locked$/.test(String(line.msg))).length, 5, 'each view\'s refusal at debug level');
});

test('a locked SQLite file under a worker: its claims, refused every poll, are one error line for the outage and one when it ends, not a line per poll', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const store = sqliteStore({ path: file, busyTimeoutMs: 20 });
  // The worker's claims the store refuses, counted.
  let refused = 0;
  const tenRefused = deferred();
  const claims: TaskStore['claim'] = async (request) => {
    try {
      return await store.claim(request);
    } catch (error) {
      if (++refused === 10) tenRefused.resolve();
      throw error;
    }
  };
  const counting = new Proxy(store, {
    get: (target, name) => {
      if (name === 'claim') return claims;
      const value = Reflect.get(target, name, target) as unknown;
      return typeof value === 'function' ? value.bind(target) as unknown : value;
    },
  });
  const lines: LogLine[] = [];
  const warned = deferred();
  const logger = pino({ level: 'debug' }, {
    write: (text: string) => {
      lines.push(JSON.parse(text) as LogLine);
      if (lines.at(-1)!.level === LEVEL.warn) warned.resolve();
    },
  });
  // A lease far longer than the test: what is refused every poll is the claim.
  const worker = await runWorker({ definitions: [task('noted', () => {})], store: counting, logger, handleSignals: false, pollMs: 5, leaseMs: 600_000 });
  t.after(() => worker.close({ timeoutMs: 100 }));
  const locker = new DatabaseSync(file);
  t.after(() => locker.close());
  locker.exec('BEGIN EXCLUSIVE');
  await tenRefused.promise;

  const errors = lines.filter((line) => line.level >= LEVEL.error);
  assert.equal(errors.length, 1, `one error line for ten refused claims: ${errors.map((line) => line.msg).join(' | ')}`);
  assert.match(errors[0]!.msg!, new RegExp(`^durable task calls to the sqlite store ${file} refused: database is locked; further refusals are counted, one line per 10 s at most$`));
  assertCauseOnce(errors[0]!, `sqlite store ${file} is unavailable: database is locked`);

  locker.exec('ROLLBACK');
  // The next call the store answers ends the outage.
  await warned.promise;
  const recovered = lines.filter((line) => line.level === LEVEL.warn);
  assert.equal(recovered.length, 1);
  assert.match(recovered[0]!.msg!, /^durable task calls to the sqlite store .* accepted again after \d+\.\d s: \d+ refused in all/);
  assert.equal(lines.filter((line) => line.level >= LEVEL.error).length, 1, 'nothing more at error level');
});

test('a store that refuses every other claim under a worker (Redis out of memory, flapping): one line for the outage and one when it first came back, not two a flip', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const store = sqliteStore({ path: file });
  await store.open();
  // Every other claim refused, as a store out of memory refuses a write and takes the next; 40 flips, then it stops.
  let claims = 0;
  const flipped = deferred();
  const flapping: TaskStore['claim'] = async (request) => {
    if (++claims === 80) flipped.resolve();
    if (claims <= 80 && claims % 2 === 1) throw new StoreUnavailable(store.description, new Error("OOM command not allowed when used memory > 'maxmemory'"));
    return store.claim(request);
  };
  const wrapped = new Proxy(store, {
    get: (target, name) => {
      if (name === 'claim') return flapping;
      const value = Reflect.get(target, name, target) as unknown;
      return typeof value === 'function' ? value.bind(target) as unknown : value;
    },
  });
  const { logger, lines } = memoryLogger();
  const worker = await runWorker({ definitions: [task('noted', () => {})], store: wrapped, logger, handleSignals: false, pollMs: 5, leaseMs: 600_000 });
  t.after(() => worker.close({ timeoutMs: 100 }));
  await flipped.promise;
  const said = lines.filter((line) => line.level >= LEVEL.warn).map((line) => line.msg);
  assert.equal(said.length, 2, `40 flips in well under 10 s: the first refusal and the first return, nothing more: ${said.join(' | ')}`);
  assert.match(said[0]!, /refused: .*OOM command not allowed/);
  assert.match(said[1]!, /accepted again after \d+\.\d s: 1 refused in all$/);
});

test('OutageLog: the first failure, then at most one summary per interval, then the recovery; a new outage starts afresh', () => {
  const { logger, lines } = memoryLogger();
  let now = 1000;
  const log = new OutageLog(logger, 'writes to X', () => now, 10_000);
  const texts = (): string[] => lines.map((line) => `${line.level} ${line.msg}`);
  log.succeeded();
  assert.deepEqual(texts(), [], 'no outage, nothing to say');

  log.failed(new Error('down'), 2);
  now += 4000;
  log.failed(new Error('down'));
  now += 5999;
  log.failed(new Error('down'), 3);
  assert.equal(lines.length, 1, 'within the interval: counted, not logged');
  now += 1;
  log.failed(new Error('still down'));
  now += 9999;
  log.failed(new Error('still down'));
  now += 2000;
  log.succeeded();
  log.succeeded();
  assert.deepEqual(texts(), [
    '50 writes to X refused: down; further refusals are counted, one line per 10 s at most',
    '50 writes to X still refused: 5 more in the last 10.0 s (still down)',
    '40 writes to X accepted again after 22.0 s: 8 refused in all, 1 of them since the last line',
  ]);
  assert.equal(lines[0]!['refused'], 2);
  assert.equal(lines[1]!['refused'], 5);

  // An interval after the recovery line: a new outage, not the last one taken up again.
  now += 10_000;
  log.failed('gone');
  log.succeeded();
  assert.deepEqual(texts().slice(3), [
    '50 writes to X refused: gone; further refusals are counted, one line per 10 s at most',
    '40 writes to X accepted again after 0.0 s: 1 refused in all',
  ]);
});

test('OutageLog: a store that flaps (refused, accepted, refused, several times a second, as Redis out of memory) is one outage: one line per interval at most, counting the flips, where each flip was two lines', () => {
  const { logger, lines } = memoryLogger();
  let now = 1000;
  const log = new OutageLog(logger, 'writes to X', () => now, 10_000);
  const texts = (): string[] => lines.map((line) => `${line.level} ${line.msg}`);
  // 25 s of a refusal and an acceptance every 100 ms each.
  for (let i = 0; i < 125; i++) {
    log.failed(new Error('OOM'));
    now += 100;
    log.succeeded();
    now += 100;
  }
  assert.deepEqual(texts(), [
    '50 writes to X refused: OOM; further refusals are counted, one line per 10 s at most',
    '40 writes to X accepted again after 0.1 s: 1 refused in all',
    '50 writes to X still refused: 51 more in the last 10.1 s, accepted and refused again 51 times (OOM)',
    '50 writes to X still refused: 50 more in the last 10.0 s, accepted and refused again 50 times (OOM)',
  ]);
  // It stops flapping: back once it has refused nothing for an interval, with what it counted since the last line.
  for (let i = 0; i < 100; i++) {
    now += 100;
    log.succeeded();
  }
  assert.deepEqual(texts().slice(4), [
    '40 writes to X accepted again after 34.9 s: 125 refused in all, 23 of them since the last line, accepted and refused again 23 times since the last line',
  ]);
  assert.equal(lines.length, 5);
});

/** `store`, and `batches(n)`: resolves once `n` releases (each retried with the same array) have been refused. */
function hearingReleases(store: TaskStore): { store: TaskStore; batches: (n: number) => Promise<void> } {
  const refused = new Set<unknown>();
  const waiting: { n: number; resolve: () => void }[] = [];
  const heard = intercepting(store, 'release', (call, args) => call(...args).catch((error: unknown) => {
    refused.add(args[0]);
    for (const waiter of waiting) if (refused.size >= waiter.n) waiter.resolve();
    throw error;
  }));
  const batches = (n: number): Promise<void> => refused.size >= n ? Promise.resolve() : new Promise((resolve) => { waiting.push({ n, resolve }); });
  return { store: heard, batches };
}

test('a locked SQLite file refusing the releases of three responses, each in its own write: one line for the outage and one when it ends, not a line a release', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const { store, batches } = hearingReleases(sqliteStore({ path: file, busyTimeoutMs: 20 }));
  let ran = 0;
  const allRan = deferred();
  const noted = task('noted', () => { if (++ran === 3) allRan.resolve(); });
  const ends = [deferred(), deferred(), deferred()];
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger, tasks: { definitions: [noted], store },
    routes: [post('/notes/:n', (request) => openResponse(ends[Number(request.params.n)]!.promise).after(noted, {}))],
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close());
  // Three responses under way, their tasks journaled and held (their first line is written after); then the file is locked.
  const responses = await Promise.all(ends.map((_, n) => fetch(`${server.url}/notes/${n}`, { method: 'POST' })));
  const locker = new DatabaseSync(file);
  t.after(() => locker.close());
  locker.exec('BEGIN EXCLUSIVE');
  // Each response ends once the release of the one before was refused: three writes.
  for (const [n, end] of ends.entries()) {
    end.resolve();
    assert.equal(await responses[n]!.text(), 'started\ndone\n');
    await batches(n + 1);
  }
  locker.exec('ROLLBACK');
  await allRan.promise;
  assertOneLockedOutage(lines, file);
});

test('a locked SQLite file refusing the ends of three attempts, each in its own write: one line for the outage and one when it ends, not a line a write', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const started = [deferred(), deferred(), deferred()];
  const ends = [deferred(), deferred(), deferred()];
  const work = task('work', async ({ n }: { n: number }) => {
    started[n]!.resolve();
    await ends[n]!.promise;
  });
  // The ends' writes (each retried with the same ids) the store refused; the ends it took.
  const refused = new Set<unknown>();
  let heard = deferred();
  let written = 0;
  const allWritten = deferred();
  const hear = (call: StoreCall, args: unknown[]): Promise<unknown> => call(...args).then((result) => {
    written += (args[0] as string[]).length;
    if (written === 3) allWritten.resolve();
    return result;
  }, (error: unknown) => {
    refused.add(args[0]);
    heard.resolve();
    throw error;
  });
  const store = intercepting(intercepting(sqliteStore({ path: file, busyTimeoutMs: 20 }), 'complete', hear), 'completeAndClaim', hear);
  const { logger, lines, logged } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [work], store, pollMs: 20 }, routes: [post('/work/:n', (request) => new HttpResponse('ok').after(work, { n: Number(request.params.n) }))] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close());
  for (const n of [0, 1, 2]) assert.equal((await fetch(`${server.url}/work/${n}`, { method: 'POST' })).status, 200);
  await Promise.all(started.map(({ promise }) => promise));
  const locker = new DatabaseSync(file);
  t.after(() => locker.close());
  locker.exec('BEGIN EXCLUSIVE');
  // Each attempt ends once the end of the one before was refused: three writes.
  for (const [n, end] of ends.entries()) {
    end.resolve();
    while (refused.size < n + 1) {
      await heard.promise;
      heard = deferred();
    }
  }
  locker.exec('ROLLBACK');
  await allWritten.promise;
  await logged((line) => line.level === LEVEL.warn);
  assertOneLockedOutage(lines, file);
});

test('registrations refused while the runner\'s claims are taken (a full disk takes a claim that writes nothing): the outage goes on until a registration is taken, not ended by a claim', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const inner = sqliteStore({ path: path.join(dir, 'tasks.db') });
  let full = true;
  const adds = intercepting(inner, 'add', (call, args) => full ? Promise.reject(new StoreUnavailable(inner.description, new Error('database or disk is full'))) : call(...args));
  // The claims the store took, heard.
  let claimed = deferred();
  const store = intercepting(adds, 'claim', (call, args) => call(...args).then((result) => { claimed.resolve(); return result; }));
  const noted = task('noted', () => {});
  const { logger, lines, logged } = memoryLogger();
  const app = createApp({ logger, tasks: { definitions: [noted], store, pollMs: 20 }, routes: [post('/notes', () => new HttpResponse('saved').after(noted, {}))] });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => server.close());
  for (let i = 0; i < 2; i++) {
    assert.equal((await fetch(`${server.url}/notes`, { method: 'POST' })).status, 503);
    claimed = deferred();
    await claimed.promise;
  }
  const said = (): string[] => lines.filter((line) => line.level >= LEVEL.warn).map((line) => `${line.level} ${line.msg}`);
  assert.equal(said().length, 1, `claims taken between the refusals end nothing: ${said().join(' | ')}`);
  assert.match(said()[0]!, /^50 durable task calls to the sqlite store .* refused: database or disk is full;/);
  full = false;
  assert.equal((await fetch(`${server.url}/notes`, { method: 'POST' })).status, 200);
  await logged((line) => line.level === LEVEL.warn);
  assert.equal(said().length, 2, said().join(' | '));
  assert.match(said()[1]!, /^40 durable task calls to the sqlite store .* accepted again after \d+\.\d s: 2 refused in all, 1 of them since the last line$/);
});
