// Prometheus metrics: requests and tasks through a real server, then the
// metrics view scraped over a socket and its text format parsed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Histogram, Registry, type Metric } from 'prom-client';
import { after, createApp, get, HttpResponse, metricsView, post, runWorker, sqliteStore, StoreUnavailable, task, type App, type AppOptions } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { ScrapedHistogram } from '../../src/observe/scraped-histogram.js';
import { LEVEL, memoryLogger, slowRoute, startServer } from '../helpers.js';
import { clientLeftRoutes } from './client-left.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus's text format, the samples only (`# HELP` and `# TYPE` lines skipped). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (among others). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function serveApp(t: TestContext, options: AppOptions): Promise<{ app: App; url: string }> {
  const app = createApp(options);
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  return { app, url: server.url };
}

async function scrape(url: string): Promise<{ contentType: string | null; text: string; samples: Sample[] }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { contentType: res.headers.get('content-type'), text, samples: parse(text) };
}

test('request durations by method, route pattern and status; tasks by name and state with run and wait times; Node\'s default metrics', async (t) => {
  const registry = new Registry();
  const { app, url } = await serveApp(t, {
    metrics: { registry },
    routes: [
      get('/users/:id', (request) => {
        after(() => {}, { name: 'audit' });
        if (request.params.id === '13') after(() => { throw new Error('unlucky'); }, { name: 'audit' });
        return new HttpResponse('user');
      }),
      get('/metrics', metricsView({ registry })),
    ],
    after: { onError: () => {} },
  });
  for (const path of ['/users/7', '/users/8', '/users/13', '/no/such/path']) await (await fetch(`${url}${path}`)).text();
  await app.settle();
  const { contentType, text, samples } = await scrape(url);
  assert.equal(contentType, registry.contentType);
  const count = (route: string, status: string): number | undefined =>
    value(samples, 'http_request_duration_seconds_count', { method: 'GET', route, status_code: status });
  assert.equal(count('/users/:id', '200'), 3);
  assert.equal(count('unmatched', '404'), 1);
  assert.ok(!text.includes('/users/7') && !text.includes('/no/such/path'), 'raw paths never become labels');
  assert.ok(value(samples, 'http_request_duration_seconds_sum', { route: '/users/:id' })! > 0);
  assert.equal(value(samples, 'http_request_duration_seconds_bucket', { route: '/users/:id', le: '+Inf' }), 3);

  assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: 'audit', state: 'completed' }), 3);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: 'audit', state: 'failed' }), 1);
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'after', task: 'audit' }), 4);
  assert.equal(value(samples, 'coda_task_wait_seconds_count', { kind: 'after', task: 'audit' }), 4);
  assert.equal(value(samples, 'coda_tasks_pending', { kind: 'after' }), 0);
  assert.equal(value(samples, 'coda_tasks_running', { kind: 'after' }), 0);
  assert.equal(value(samples, 'coda_requests_shed_total'), 0);
  assert.ok(value(samples, 'process_cpu_user_seconds_total')! > 0, 'Node\'s default metrics are collected');
  assert.ok(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes'));
});

test('a request whose client left before the response\'s head went out is counted with status_code="499" (nginx\'s client closed request), not the status never sent; one left mid-body keeps its status', async (t) => {
  const registry = new Registry();
  const { routes, leave } = clientLeftRoutes();
  const app = createApp({ metrics: { registry, defaultMetrics: false }, accessLog: false, routes: [...routes, get('/metrics', metricsView({ registry }))] });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  await leave(server, app);
  const { samples } = await scrape(server.url);
  const count = (route: string, status: string) => value(samples, 'http_request_duration_seconds_count', { route, status_code: status });
  assert.equal(count('/left', '499'), 1);
  assert.equal(count('/left', '200'), undefined);
  assert.equal(count('/streamed', '200'), 1);
  assert.equal(count('/streamed', '499'), undefined);
});

test('a scrape of an empty registry (the app left metrics: true out, or registered in another registry) is said once in the log, naming the option; one with series is not', async (t) => {
  const { logger, lines } = memoryLogger();
  const empty = new Registry();
  const { url } = await serveApp(t, { logger, accessLog: false, routes: [get('/metrics', metricsView({ registry: empty }))] });
  for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0']) {
    const res = await fetch(`${url}/metrics`, { headers: { accept } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^\s*(# EOF\s*)?$/);
  }
  const warned = lines.filter(({ level }) => level === LEVEL.warn);
  assert.equal(warned.length, 1, 'once');
  assert.match(warned[0]!.msg!, /metricsView\(\) served no metrics: .*createApp\(\{ metrics: true \}\)/);

  const registry = new Registry();
  const filled = memoryLogger();
  const { url: filledUrl } = await serveApp(t, { logger: filled.logger, metrics: { registry, defaultMetrics: false }, accessLog: false, routes: [get('/metrics', metricsView({ registry }))] });
  await scrape(filledUrl);
  assert.deepEqual(filled.lines.filter(({ level }) => level === LEVEL.warn), []);
});

test('tasks pending and running are gauges read at scrape time; requests refused at a full queue are counted as shed', async (t) => {
  const registry = new Registry();
  const slow = slowRoute();
  const { app, url } = await serveApp(t, {
    metrics: { registry, defaultMetrics: false },
    after: { concurrency: 1, maxPending: 1 },
    routes: [slow.route],
  });
  // Scrapes go to a metrics app on a port of its own: the full queue refuses every request of the app it fills, a scrape too.
  const metrics = await serveApp(t, { routes: [get('/metrics', metricsView({ registry }))], accessLog: false });
  assert.equal((await fetch(`${url}/slow`)).status, 200);
  await slow.started;
  assert.equal((await fetch(`${url}/slow`)).status, 200); // its task waits for the one slot: the queue is full
  assert.equal((await fetch(`${url}/slow`)).status, 503);
  const during = (await scrape(metrics.url)).samples;
  assert.equal(value(during, 'coda_tasks_running', { kind: 'after' }), 1);
  assert.equal(value(during, 'coda_tasks_pending', { kind: 'after' }), 1);
  assert.equal(value(during, 'coda_requests_shed_total'), 1);
  // Refused before routing: no route label but the fixed one.
  assert.equal(value(during, 'http_request_duration_seconds_count', { route: 'unmatched', status_code: '503' }), 1);
  assert.equal(value(during, 'process_cpu_user_seconds_total'), undefined, 'defaultMetrics: false');
  slow.release();
  await app.settle();
  const later = (await scrape(metrics.url)).samples;
  assert.equal(value(later, 'coda_tasks_running', { kind: 'after' }), 0);
  assert.equal(value(later, 'coda_tasks_total', { kind: 'after', task: 'slow', state: 'completed' }), 2);
});

test('durable tasks: attempts by name and state (retries apart), their run and wait times, and the store\'s pending and running', async () => {
  const registry = new Registry();
  let calls = 0;
  const flaky = task('flaky', () => {
    if (++calls === 1) throw new Error('first attempt fails');
  }, { attempts: 3, backoff: { type: 'fixed', delayMs: 5_000 } });
  const app = createApp({
    metrics: { registry, defaultMetrics: false }, tasks: { definitions: [flaky] },
    routes: [post('/jobs', () => new HttpResponse('queued', { status: 202 }).after(flaky, {})), get('/metrics', metricsView({ registry }))],
  });
  await using client = createTestClient(app, { transport: 'socket' });
  assert.equal((await client.post('/jobs')).status, 202);
  await client.settle();
  const samples = parse(await (await client.get('/metrics')).text());
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'durable', task: 'flaky', state: 'retrying' }), 1);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'durable', task: 'flaky', state: 'completed' }), 1);
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'durable', task: 'flaky' }), 2);
  // The retry was due 5 s after the first attempt; the test clock moved there at once: it waited no time.
  assert.equal(value(samples, 'coda_task_wait_seconds_count', { kind: 'durable', task: 'flaky' }), 2);
  assert.equal(value(samples, 'coda_tasks_pending', { kind: 'durable' }), 0);
  assert.equal(value(samples, 'coda_tasks_running', { kind: 'durable' }), 0);
});

test('attempts are counted by the process that runs them: those of a runWorker() beside a web app with tasks.run false are not in the app\'s counters, its durable gauges are the store\'s', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-metrics-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const registry = new Registry();
  let ran!: () => void;
  const done = new Promise<void>((resolve) => { ran = resolve; });
  const mail = task('mail', () => { ran(); });
  const { url } = await serveApp(t, {
    metrics: { registry, defaultMetrics: false }, tasks: { definitions: [mail], store: sqliteStore({ path: file }), run: false },
    routes: [post('/jobs', () => new HttpResponse('queued', { status: 202 }).after(mail, {})), get('/metrics', metricsView({ registry }))],
  });
  const worker = await runWorker({ definitions: [mail], store: sqliteStore({ path: file }), handleSignals: false, pollMs: 10 });
  assert.equal((await fetch(`${url}/jobs`, { method: 'POST' })).status, 202);
  await done;
  await worker.close();
  const { samples } = await scrape(url);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'durable', task: 'mail' }), undefined, 'the worker ran it: not counted here');
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'durable', task: 'mail' }), undefined);
  assert.equal(value(samples, 'coda_tasks_pending', { kind: 'durable' }), 0);
  assert.equal(value(samples, 'coda_tasks_running', { kind: 'durable' }), 0);
});

test('runWorker({ metrics }) counts the attempts it runs in its registry, served by a metricsView() of the worker\'s own, with the store\'s durable gauges; they stay counted once it is closed', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-metrics-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  let ran!: () => void;
  const done = new Promise<void>((resolve) => { ran = resolve; });
  const mail = task('mail', (_payload: unknown, { attempt }) => {
    if (attempt === 1) throw new Error('the mail server is down');
    ran();
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 0 } });
  const { app } = await serveApp(t, { tasks: { definitions: [mail], store: sqliteStore({ path: file }), run: false }, routes: [], accessLog: false });
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const worker = await runWorker({
    definitions: [mail], store: sqliteStore({ path: file }), handleSignals: false, pollMs: 10, logger, metrics: { registry, defaultMetrics: false },
  });
  const { url } = await serveApp(t, { routes: [get('/metrics', metricsView({ registry }))], accessLog: false });
  await app.tasks.enqueue(mail, {});
  await done;
  const during = (await scrape(url)).samples;
  assert.equal(value(during, 'coda_tasks_pending', { kind: 'durable' }), 0, 'the store\'s gauge');
  assert.equal(value(during, 'coda_tasks_pending', { kind: 'after' }), 0);
  await worker.close();
  const { samples } = await scrape(url);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'durable', task: 'mail', state: 'retrying' }), 1);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'durable', task: 'mail', state: 'completed' }), 1);
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'durable', task: 'mail' }), 2);
  assert.equal(value(samples, 'coda_task_wait_seconds_count', { kind: 'durable', task: 'mail' }), 2);
  assert.deepEqual(lines.filter(({ msg }) => /did not answer/.test(String(msg))), [], 'the closed store no longer asked');
  await assert.rejects(runWorker({ definitions: [mail], store: sqliteStore({ path: file }), handleSignals: false, metrics: 'yes' as never }), /runWorker\(\): metrics must be/);
});

test('a task store that cannot answer leaves the durable gauges out of the scrape, logged: the rest of it is served, with the store back so are they', async (t) => {
  const registry = new Registry();
  const store = sqliteStore({ path: ':memory:' });
  const stats = store.stats.bind(store);
  let down = false;
  store.stats = (now) => (down ? Promise.reject(new StoreUnavailable('the SQLite store', new Error('database is locked'))) : stats(now));
  const { logger, lines } = memoryLogger();
  const { url } = await serveApp(t, {
    logger, metrics: { registry, defaultMetrics: false }, tasks: { definitions: [task('noop', () => {})], store },
    routes: [get('/users/:id', () => new HttpResponse('user')), get('/metrics', metricsView({ registry }))],
  });
  assert.equal((await fetch(`${url}/users/7`)).status, 200);
  assert.equal(value((await scrape(url)).samples, 'coda_tasks_pending', { kind: 'durable' }), 0);
  down = true;
  // The scrape answers 200 (scrape() checks it): before, the whole of it was a 500.
  const during = (await scrape(url)).samples;
  assert.equal(value(during, 'http_request_duration_seconds_count', { method: 'GET', route: '/users/:id', status_code: '200' }), 1);
  assert.equal(value(during, 'coda_tasks_pending', { kind: 'after' }), 0);
  assert.equal(value(during, 'coda_tasks_pending', { kind: 'durable' }), undefined, 'no stale count');
  assert.equal(value(during, 'coda_tasks_running', { kind: 'durable' }), undefined);
  const warned = lines.filter((line) => line.level === LEVEL.warn && /task store did not answer/.test(String(line.msg)));
  assert.equal(warned.length, 1, 'one line per scrape');
  assert.match(JSON.stringify(warned[0]!.err), /database is locked/);
  down = false;
  assert.equal(value((await scrape(url)).samples, 'coda_tasks_running', { kind: 'durable' }), 0);
});

test('task names past 256 are counted under task="(other)", logged once: a name made from request data cannot grow the series without bound', async () => {
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const app = createApp({
    logger, accessLog: false, metrics: { registry, defaultMetrics: false },
    routes: [get('/sync/:n', (request) => {
      after(() => {}, { name: `sync-${request.params.n}` });
      return new HttpResponse('ok');
    })],
  });
  await using client = createTestClient(app);
  for (let n = 0; n < 300; n++) assert.equal((await client.get(`/sync/${n}`)).status, 200);
  await client.settle();
  const samples = parse(await registry.metrics());
  const names = new Set(samples.filter((s) => s.name === 'coda_tasks_total').map((s) => s.labels.task));
  assert.equal(names.size, 257);
  assert.ok(names.has('sync-255') && !names.has('sync-256'));
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: '(other)', state: 'completed' }), 44);
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'after', task: '(other)' }), 44);
  const warned = lines.filter((line) => line.level === LEVEL.warn);
  assert.equal(warned.length, 1);
  assert.match(String(warned[0]!.msg), /more than 256 task names: the tasks of every new name are counted under task="\(other\)"/);
});

test('task names are cut to 200 characters in their label: a name made from a 12 KB path is no 12 KB label value (a Prometheus with label_value_length_limit fails the whole scrape on one)', async () => {
  const registry = new Registry();
  const app = createApp({
    accessLog: false, metrics: { registry, defaultMetrics: false },
    routes: [get('/notify/:who', (request) => {
      after(() => {}, { name: `notify ${request.params.who}` });
      return new HttpResponse('ok');
    })],
  });
  await using client = createTestClient(app);
  const who = 'w'.repeat(12_000);
  // Alike in their first 200 characters: one series.
  for (const tail of ['a', 'b']) assert.equal((await client.get(`/notify/${who}${tail}`)).status, 200);
  await client.settle();
  const samples = parse(await registry.metrics());
  const label = `notify ${who.slice(0, 200 - 'notify '.length)}…`;
  assert.deepEqual([...new Set(samples.filter((s) => 'task' in s.labels).map((s) => s.labels.task))], [label]);
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: label, state: 'completed' }), 2);
  assert.equal(value(samples, 'coda_task_run_seconds_count', { kind: 'after', task: label }), 2);
});

test('two apps on one registry share its metrics (each name registered once, default metrics collected once) and add up', async () => {
  const registry = new Registry();
  const routes = [get('/', () => new HttpResponse('hi'))];
  await using first = createTestClient(createApp({ metrics: { registry }, routes }));
  await using second = createTestClient(createApp({ metrics: { registry }, routes }));
  await first.get('/');
  await second.get('/');
  await first.settle();
  await second.settle();
  const samples = parse(await registry.metrics());
  assert.equal(value(samples, 'http_request_duration_seconds_count', { route: '/', status_code: '200' }), 2);
  assert.equal(samples.filter((s) => s.name === 'process_cpu_user_seconds_total').length, 1);
});

/** An in-memory store that counts how often its stats (what the durable gauges read) are asked for. */
function countedStore(): { store: ReturnType<typeof sqliteStore>; asked: () => number } {
  const store = sqliteStore({ path: ':memory:' });
  const stats = store.stats.bind(store);
  let asked = 0;
  store.stats = (now) => {
    asked++;
    return stats(now);
  };
  return { store, asked: () => asked };
}

test('an app shut down (server.close()) is no longer asked for its counts by the registry it shared: its closed store does not cost the other apps their durable gauges', async (t) => {
  const registry = new Registry();
  const { logger, lines } = memoryLogger();
  const { store: closedStore, asked } = countedStore();
  const closing = createApp({ logger, accessLog: false, metrics: { registry, defaultMetrics: false }, tasks: { definitions: [task('noop', () => {})], store: closedStore } });
  const closingServer = await startServer(closing, { host: '127.0.0.1' });
  let closed = false;
  t.after(() => closed || closingServer.close());
  const { url } = await serveApp(t, {
    logger, accessLog: false, metrics: { registry, defaultMetrics: false }, tasks: { definitions: [task('noop', () => {})], store: sqliteStore({ path: ':memory:' }) },
    routes: [get('/metrics', metricsView({ registry }))],
  });
  await scrape(url);
  assert.equal(asked(), 1, 'asked while it served');
  await closingServer.close();
  closed = true;
  const after = (await scrape(url)).samples;
  assert.equal(asked(), 1, 'not asked once shut down');
  assert.equal(value(after, 'coda_tasks_pending', { kind: 'durable' }), 0);
  assert.equal(value(after, 'coda_tasks_running', { kind: 'durable' }), 0);
  assert.deepEqual(lines.filter((line) => line.level >= LEVEL.warn), []);
});

test('what an app shut down counted stays counted: its requests and tasks are in every scrape after its shutdown, no counter of its going down', async (t) => {
  const registry = new Registry();
  const { url } = await serveApp(t, { accessLog: false, routes: [get('/metrics', metricsView({ registry }))] });
  const app = createApp({
    accessLog: false, metrics: { registry, defaultMetrics: false },
    routes: [get('/users/:id', () => new HttpResponse('user').after(() => {}, { name: 'audit' }))],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  for (const id of [1, 2]) assert.equal((await fetch(`${server.url}/users/${id}`)).status, 200);
  await app.settle();
  const before = (await scrape(url)).samples;
  await server.close();
  for (const samples of [(await scrape(url)).samples, (await scrape(url)).samples]) {
    assert.equal(value(samples, 'http_request_duration_seconds_count', { method: 'GET', route: '/users/:id', status_code: '200' }), 2);
    assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: 'audit', state: 'completed' }), 2);
    for (const counted of before.filter(({ name }) => /_total$|_count$|_sum$|_bucket$/.test(name))) {
      assert.equal(value(samples, counted.name, counted.labels), counted.value, `${counted.name} ${JSON.stringify(counted.labels)}`);
    }
  }
});

test('an app served again after its shutdown (a server restarted in the same process) is asked for its counts again', async (t) => {
  const registry = new Registry();
  const { store, asked } = countedStore();
  const app = createApp({ accessLog: false, metrics: { registry, defaultMetrics: false }, tasks: { definitions: [task('noop', () => {})], store } });
  const { url } = await serveApp(t, { accessLog: false, metrics: { registry, defaultMetrics: false }, routes: [get('/metrics', metricsView({ registry }))] });
  await (await startServer(app, { host: '127.0.0.1' })).close();
  await scrape(url);
  assert.equal(asked(), 0, 'not asked once shut down');
  const again = await startServer(app, { host: '127.0.0.1' });
  t.after(() => again.close());
  await scrape(url);
  assert.equal(asked(), 1, 'asked again once served again');
});

test('metrics are off unless asked for; bad metrics options and a registry that is not one are refused, naming the option', () => {
  const registry = new Registry();
  createApp({ routes: [get('/', () => new HttpResponse('hi'))] });
  assert.deepEqual(registry.getMetricsAsArray(), []);
  assert.throws(() => createApp({ metrics: { registery: registry } as never }), /createApp\(\) metrics: unknown option "registery"; did you mean "registry"\?/);
  assert.throws(() => createApp({ metrics: { registry: {} as never } }), /createApp\(\) metrics.registry must be a prom-client Registry, got/);
  assert.throws(() => createApp({ metrics: { registry, defaultMetrics: 'no' as never } }), /metrics.defaultMetrics must be true or false/);
  assert.throws(() => createApp({ metrics: 1 as never }), /createApp\(\): metrics must be true, false or an options object, got number 1/);
  assert.throws(() => metricsView({ registry: 5 as never }), /metricsView\(\): registry must be a prom-client Registry, got number 5/);
  assert.throws(() => metricsView({ registy: registry } as never), /metricsView\(\): unknown option "registy"; did you mean "registry"\?/);
  assert.throws(() => metricsView({ registry, clusterTimeoutMs: 0 }), /metricsView\(\): clusterTimeoutMs must be a positive number of milliseconds, at most \d+, got number 0/);
});

test('Coda\'s histograms scrape as prom-client\'s own: the same text and JSON for the same observations, before and after a reset', async () => {
  const config = { name: 'h_seconds', help: 'a histogram', labelNames: ['method', 'route'], buckets: [0.005, 0.1, 1, 2.5] };
  const ours = new Registry();
  const theirs = new Registry();
  const scraped = new ScrapedHistogram(config);
  ours.registerMetric(scraped as unknown as Metric);
  const reference = new Histogram({ ...config, registers: [theirs] });
  // Values on bucket bounds, between them, above the last, and a route that needs escaping.
  const observations: [string, string, number][] = [
    ['GET', '/a', 0.005], ['GET', '/a', 0.0051], ['POST', '/b "quoted"\\n', 3], ['GET', '/a', 0.1], ['GET', '/c', 1e-9], ['POST', '/b "quoted"\\n', 0.3],
  ];
  const observeAll = (): void => {
    for (const [method, route, value] of observations) {
      scraped.series(method, route).observe(value);
      reference.observe({ method, route }, value);
    }
  };
  observeAll();
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  ours.resetMetrics();
  theirs.resetMetrics();
  assert.equal(await ours.metrics(), await theirs.metrics());
  observations.reverse();
  observeAll();
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('after N known requests and tasks, the scrape counts each of them once, in buckets that add up to the sum\'s count', async (t) => {
  const registry = new Registry();
  const { app, url } = await serveApp(t, {
    metrics: { registry, defaultMetrics: false },
    routes: [
      get('/items/:id', (request) => {
        after(() => {}, { name: 'index' });
        return new HttpResponse('item', { status: request.params.id === 'gone' ? 410 : 200 });
      }),
      post('/items', () => new HttpResponse('made', { status: 201 })),
      get('/metrics', metricsView({ registry })),
    ],
  });
  for (let i = 0; i < 7; i++) await (await fetch(`${url}/items/${i}`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${url}/items/gone`)).text();
  for (let i = 0; i < 2; i++) await (await fetch(`${url}/items`, { method: 'POST' })).text();
  await app.settle();
  const { samples } = await scrape(url);
  const series = (labels: Record<string, string>): { count: number; buckets: Sample[] } => {
    const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    return { count: value(samples, 'http_request_duration_seconds_count', labels)!, buckets };
  };
  for (const [labels, count] of [
    [{ method: 'GET', route: '/items/:id', status_code: '200' }, 7],
    [{ method: 'GET', route: '/items/:id', status_code: '410' }, 3],
    [{ method: 'POST', route: '/items', status_code: '201' }, 2],
  ] as const) {
    const found = series(labels);
    assert.equal(found.count, count, JSON.stringify(labels));
    assert.deepEqual(found.buckets.map((s) => s.labels.le), ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1', '2.5', '5', '7.5', '10', '+Inf']);
    const values = found.buckets.map((s) => s.value);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), 'buckets are cumulative');
    assert.equal(values.at(-1), count);
    assert.ok(value(samples, 'http_request_duration_seconds_sum', labels)! > 0);
  }
  assert.equal(samples.filter((s) => s.name === 'http_request_duration_seconds_count').length, 3, 'one series per route, method and status: the scrape itself is counted when it ends');
  assert.equal(value(samples, 'coda_tasks_total', { kind: 'after', task: 'index', state: 'completed' }), 10);
  assert.equal(value(samples, 'coda_task_run_seconds_bucket', { kind: 'after', task: 'index', le: '+Inf' }), 10);
  // Tasks' buckets: 1 ms to 5 min, for run and wait alike.
  for (const name of ['coda_task_run_seconds_bucket', 'coda_task_wait_seconds_bucket']) {
    assert.deepEqual(samples.filter((s) => s.name === name && s.labels.task === 'index').map((s) => s.labels.le), ['0.001', '0.005', '0.01', '0.05', '0.1', '0.5', '1', '5', '10', '30', '60', '300', '+Inf'], name);
  }
  assert.equal(value(samples, 'coda_task_wait_seconds_count', { kind: 'after', task: 'index' }), 10);
  // A second scrape adds what happened since, no more: counters are handed over once.
  await (await fetch(`${url}/items/1`)).text();
  await app.settle();
  const again = (await scrape(url)).samples;
  assert.equal(value(again, 'coda_tasks_total', { kind: 'after', task: 'index', state: 'completed' }), 11);
  assert.equal(value(again, 'http_request_duration_seconds_count', { method: 'GET', route: '/items/:id', status_code: '200' }), 8);
  assert.equal(value(again, 'http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status_code: '200' }), 1);
});
