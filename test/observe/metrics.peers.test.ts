// Metrics cases ported from prom-client's own suite (test/registerTest.js,
// test/histogramTest.js, test/clusterTest.js) and from how test suites use
// it (a `register.clear()` between tests), with the real prom-client and the
// metrics view over real sockets. Each test names its source.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { AggregatorRegistry, Counter, register, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { after, createApp, get, HttpResponse, metricsView, sqliteStore, task, type App } from 'coda-http';
import { startServer } from '../helpers.js';
import { expositionProblems } from './exposition.js';

/** An app counting into `registry`, with `GET /users/:id` (one `audit` task each, under a hostile name) and its metrics view; listening. */
async function served(t: TestContext, registry: Registry): Promise<{ app: App; url: string }> {
  const app = createApp({
    accessLog: false, metrics: { registry, defaultMetrics: false },
    routes: [
      get('/users/:id', () => {
        after(() => {}, { name: 'say "hi"\n\\ now' });
        return new HttpResponse('user');
      }),
      get('/metrics', metricsView({ registry })),
    ],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  return { app, url: server.url };
}

async function scrape(url: string): Promise<{ contentType: string | null; lines: string[] }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return { contentType: response.headers.get('content-type'), lines: (await response.text()).split('\n') };
}

const requests = async (url: string, ...paths: string[]) => {
  for (const path of paths) await (await fetch(`${url}${path}`)).text();
};

test("registerTest 'should escape \" in label values', backslash and newline: a task name with all three scrapes as one valid line", async (t) => {
  const registry = new Registry();
  const { app, url } = await served(t, registry);
  await requests(url, '/users/7');
  await app.settle();
  const { contentType, lines } = await scrape(url);
  assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  assert.ok(lines.includes('coda_tasks_total{kind="after",task="say \\"hi\\"\\n\\\\ now",state="completed"} 1'), lines.join('\n'));
  assert.ok(lines.includes('coda_task_run_seconds_count{kind="after",task="say \\"hi\\"\\n\\\\ now"} 1'));
});

test('a route with a parameter, 404s under it and invented methods: labels are the pattern, unmatched and _OTHER, never what the client sent', async (t) => {
  const registry = new Registry();
  const { app, url } = await served(t, registry);
  await requests(url, '/users/7', '/users/8', '/users/7/secret-token', '/nothing/here');
  await (await app.fetch(new Request('http://localhost/users/9', { method: 'INVENTED' }))).text();
  await (await app.fetch(new Request('http://localhost/users/9', { method: 'ANOTHER-ONE' }))).text();
  await app.settle();
  const counts = (await scrape(url)).lines.filter((line) => line.startsWith('http_request_duration_seconds_count'));
  assert.deepEqual(counts.sort(), [
    'http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200"} 2',
    'http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 2',
    'http_request_duration_seconds_count{method="_OTHER",route="unmatched",status_code="405"} 2',
  ]);
});

test("registerTest 'Registry with default labels' and the OpenMetrics content type: Coda's metrics take the registry's labels, counters end in _total, # EOF", async (t) => {
  // prom-client's types leave out the constructor's content type.
  const registry = new (Registry as new (contentType: string) => Registry)(Registry.OPENMETRICS_CONTENT_TYPE);
  registry.setDefaultLabels({ service: 'api' });
  const { app, url } = await served(t, registry);
  await requests(url, '/users/7');
  await app.settle();
  const { contentType, lines } = await scrape(url);
  assert.equal(contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.ok(lines.includes('http_request_duration_seconds_count{service="api",method="GET",route="/users/:id",status_code="200"} 1'), lines.join('\n'));
  assert.ok(lines.includes('coda_requests_shed_total{service="api"} 0'));
  assert.equal(lines.at(-2), '# EOF');
  const json = await registry.getMetricsAsJSON();
  const count = json.find((metric) => metric.name === 'http_request_duration_seconds')!.values.find((v) => (v as { metricName?: string }).metricName === 'http_request_duration_seconds_count');
  assert.deepEqual(count?.labels, { method: 'GET', route: '/users/:id', status_code: '200', service: 'api' });
});

/** The Accept header Prometheus 2 sends (scrape/scrape.go, scrapeAcceptHeader), and Prometheus 3's for its default scrape_protocols. */
const PROMETHEUS_2_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PROMETHEUS_3_ACCEPT = 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';

test("Prometheus's Accept gets OpenMetrics from a registry of the text format (counters as families, # EOF), with Vary: Accept; a browser, curl or no Accept the text format, its counters' names untouched", async (t) => {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'api' });
  const { app, url } = await served(t, registry);
  await requests(url, '/users/7');
  await app.settle();
  const scrapeWith = async (accept: string | undefined) => {
    const response = await fetch(`${url}/metrics`, { headers: accept === undefined ? {} : { accept } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('vary'), 'Accept');
    return { contentType: response.headers.get('content-type'), lines: (await response.text()).split('\n') };
  };
  for (const accept of [PROMETHEUS_2_ACCEPT, PROMETHEUS_3_ACCEPT, 'application/openmetrics-text']) {
    const { contentType, lines } = await scrapeWith(accept);
    assert.equal(contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8', accept);
    assert.ok(lines.includes('# TYPE coda_tasks counter'), lines.join('\n'));
    assert.ok(lines.includes('coda_tasks_total{kind="after",task="say \\"hi\\"\\n\\\\ now",state="completed",service="api"} 1'), lines.join('\n'));
    assert.ok(lines.includes('coda_requests_shed_total{service="api"} 0'));
    assert.ok(lines.includes('http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200",service="api"} 1'));
    assert.equal(lines.at(-2), '# EOF');
  }
  for (const accept of [undefined, '*/*', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'text/plain;version=0.0.4', 'application/openmetrics-text;q=0, */*']) {
    const { contentType, lines } = await scrapeWith(accept);
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8', accept);
    assert.ok(lines.includes('# TYPE coda_tasks_total counter'), lines.join('\n'));
    assert.ok(lines.includes('coda_tasks_total{kind="after",task="say \\"hi\\"\\n\\\\ now",state="completed",service="api"} 1'), lines.join('\n'));
    assert.ok(!lines.includes('# EOF'));
  }
});

test("the scrape read by the formats' own rules (Prometheus's text format, OpenMetrics 1.0, and the cluster's sum): HELP and TYPE once and first, each family's samples together, label values escaped (a \" \\ and newline in a task name and a default label), histograms' buckets cumulative to a +Inf that is their _count, with a _sum; OpenMetrics' counters as families, # EOF last", async (t) => {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'api "v2"\\ \n' });
  const { app, url } = await served(t, registry);
  await requests(url, '/users/7', '/users/8', '/nothing');
  await app.settle();
  const text = await (await fetch(`${url}/metrics`)).text();
  const openMetrics = await (await fetch(`${url}/metrics`, { headers: { accept: PROMETHEUS_3_ACCEPT } })).text();
  assert.ok(text.includes('coda_task_wait_seconds_bucket') && text.includes('http_request_duration_seconds_bucket{le="+Inf"'), text);
  assert.deepEqual(expositionProblems(text, false), []);
  assert.deepEqual(expositionProblems(openMetrics, true), []);
  assert.deepEqual(expositionProblems(await AggregatorRegistry.aggregate([await registry.getMetricsAsJSON()]).metrics(), false), []);
});

test("clusterTest 'AggregatorRegistry.aggregate() defaults to summation, preserves histogram bins': two workers' metrics add up", async (t) => {
  const workers = [new Registry(), new Registry()];
  const jsons: MetricObjectWithValues<MetricValue<string>>[][] = [];
  for (const [i, registry] of workers.entries()) {
    const { app, url } = await served(t, registry);
    await requests(url, ...Array.from({ length: i + 1 }, () => '/users/7'));
    await app.settle();
    jsons.push(await registry.getMetricsAsJSON());
  }
  const lines = (await AggregatorRegistry.aggregate(jsons).metrics()).split('\n');
  assert.ok(lines.includes('http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200"} 3'), lines.join('\n'));
  assert.ok(lines.includes('http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/users/:id",status_code="200"} 3'));
  assert.ok(lines.includes('coda_tasks_total{kind="after",task="say \\"hi\\"\\n\\\\ now",state="completed"} 3'));
});

test("registerTest 'should not throw if concurrent': 40 scrapes at once while requests, tasks and a durable store's gauges move: each whole, every family once, counting what was done", async (t) => {
  const registry = new Registry();
  const charge = task('charge', () => {});
  const app = createApp({
    accessLog: false, metrics: { registry, defaultMetrics: false },
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [
      get('/users/:id', () => {
        after(() => {}, { name: 'audit' });
        after(charge, {});
        return new HttpResponse('user');
      }),
      get('/metrics', metricsView({ registry })),
    ],
  });
  const server = await startServer(app, { host: '127.0.0.1' });
  t.after(() => server.close());
  const count = (text: string): number => Number(/^http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status_code="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  for (let round = 0; round < 5; round++) {
    // Counted by now: every request of the rounds before (settled); the 10 of this round may be, as the scrapes meet them.
    const before = round * 10;
    const traffic = Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${server.url}/users/7`)).text()));
    // Half in the text format, half in OpenMetrics (each over a registry of its own).
    const texts = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const response = await fetch(`${server.url}/metrics`, i % 2 === 0 ? {} : { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
      assert.equal(response.status, 200);
      return response.text();
    }));
    await traffic;
    await app.settle();
    for (const text of texts) {
      const types = text.split('\n').filter((line) => line.startsWith('# TYPE '));
      assert.equal(new Set(types).size, types.length, `each family once: ${types.join(', ')}`);
      assert.equal(types.length, 8, types.join(', '));
      for (const kind of ['after', 'durable']) assert.match(text, new RegExp(`^coda_tasks_pending\\{kind="${kind}"\\} \\d+$`, 'm'));
      assert.ok(count(text) >= before && count(text) <= before + 10, `${count(text)} requests counted, ${before} to ${before + 10} done`);
    }
  }
  const last = await (await fetch(`${server.url}/metrics`)).text();
  assert.equal(count(last), 50);
  assert.match(last, /^coda_tasks_total\{kind="after",task="audit",state="completed"\} 50$/m);
  assert.match(last, /^coda_tasks_total\{kind="durable",task="charge",state="completed"\} 50$/m);
});

test("prom-client's suites clear the global registry between tests: an app made after register.clear() registers its metrics again, Node's defaults too", async () => {
  const routes = [get('/users/:id', () => new HttpResponse('user'))];
  createApp({ accessLog: false, metrics: true, routes });
  createApp({ accessLog: false, metrics: true, routes });
  register.clear();
  const app = createApp({ accessLog: false, metrics: true, routes });
  await (await app.fetch(new Request('http://localhost/users/7'))).text();
  await app.settle();
  const text = await register.metrics();
  assert.match(text, /^http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status_code="200"\} 1$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);
  register.clear();
});

test("registerTest 'should throw on more than one metric' of a name: a registry holding a metric of Coda's name that is not Coda's is refused, naming it and the way out", () => {
  const registry = new Registry();
  new Counter({ name: 'coda_tasks_total', help: 'mine', registers: [registry] });
  assert.throws(() => createApp({ metrics: { registry } }), /^Error: createApp\(\): metrics: the registry already has a metric named coda_tasks_total that is not Coda's; .*metrics: \{ registry: new Registry\(\) \}/);
  assert.equal(registry.getSingleMetric('http_request_duration_seconds'), undefined, 'nothing half registered');
});
