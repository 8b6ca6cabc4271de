// The dashboard end to end in a real browser: the page loads, its counts follow
// traffic this test sends, and a failed durable task retried from the page
// completes. Every wait is on the page's content, never on time.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { after, createApp, dashboard, get, HttpResponse, NonRetryableError, post, sqliteStore, task } from 'coda-http';
import { rawGet, rawRequest, startServer } from '../helpers.js';
import type { Page } from 'playwright-core';
import { launchChromium, missingBrowser } from './chromium.js';
import { openEvents } from './events.js';

const skip = missingBrowser();

/**
 * A page of a fresh chromium (closed when the test ends) sending `headers`,
 * and the errors it reports: thrown ones and console errors (a refusal of
 * the Content-Security-Policy among them).
 */
async function openPage(t: TestContext, headers: Record<string, string> = {}): Promise<{ page: Page; errors: string[] }> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext({ extraHTTPHeaders: headers });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  return { page, errors };
}

/** Waits until the element at `selector` shows exactly `text` (a locator, not a string predicate: the page's CSP forbids eval). */
function textIs(page: Page, selector: string, text: string): Promise<void> {
  return page.locator(selector, { hasText: new RegExp(`^${text}$`) }).waitFor();
}

test('the dashboard in chromium: live counts under traffic, and Retry on a failed task until it completes', { skip, timeout: 60_000 }, async (t) => {
  let failing = true;
  const charge = task('charge', (payload: { order: number }) => {
    if (failing) throw new NonRetryableError(`card declined for order ${payload.order}`);
  });
  const app = createApp({
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [
      get('/work', () => {
        after(() => {}, { name: 'greet' });
        return new HttpResponse('done');
      }),
      post('/orders/:n', (request) => {
        after(charge, { order: Number(request.params.n) });
        return new HttpResponse('accepted', { status: 202 });
      }),
      ...dashboard({ path: '/ops', authorize: (request) => request.headers.get('authorization') === 'Bearer ops', intervalMs: 50 }),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const { page, errors } = await openPage(t, { authorization: 'Bearer ops' });

  await page.goto(`${server.url}/ops`);
  await page.locator('#status.live').waitFor();
  assert.equal(await page.textContent('#requests-total'), '0');

  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${server.url}/work`)).status, 200);
  await textIs(page, '#requests-total', '5');
  await page.locator('#tasks tr[data-task="greet"]').waitFor();
  assert.equal(await page.textContent('#tasks tr[data-task="greet"] td:nth-child(3)'), '5');
  assert.equal(await page.locator('#recent tbody tr[data-request]', { hasText: 'GET /work' }).count(), 5);
  assert.notEqual(await page.textContent('#p95'), '–');

  assert.equal((await fetch(`${server.url}/orders/7`, { method: 'POST' })).status, 202);
  const card = page.locator('.failed-task');
  await card.waitFor();
  assert.equal(await card.locator('pre').textContent(), '{"order":7}');
  assert.match((await card.locator('ol li').textContent())!, /card declined for order 7/);
  assert.equal(await page.textContent('#states tr[data-kind="durable"] td:nth-child(6)'), '1');

  failing = false;
  await card.locator('button[data-action="retry"]').click();
  await card.waitFor({ state: 'detached' });
  await textIs(page, '#states tr[data-kind="durable"] td:nth-child(4)', '1');
  assert.equal(await page.textContent('#states tr[data-kind="durable"] td:nth-child(6)'), '0');
  await page.locator('#recent .chip.completed', { hasText: 'charge completed #1' }).waitFor();
  assert.equal(await page.textContent('#action-error'), '');
  assert.deepEqual(errors, []);
});

test('a page refused an event stream (503: maxClients pages open) says so and tries again until it is live', { skip, timeout: 60_000 }, async (t) => {
  const app = createApp({ routes: dashboard({ authorize: () => true, maxClients: 1 }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const other = await openEvents(`${server.url}/coda/events`);
  t.after(other.close);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${server.url}/coda`);
  // EventSource gives up after a 503 for good: the page said "reconnecting…" and stayed dead.
  await page.locator('#status.down', { hasText: /^disconnected: trying again in 5 s$/ }).waitFor();
  other.close();
  await page.locator('#status.live').waitFor({ timeout: 20_000 });
});

test('the dashboard page is refused to a browser that authorize() does not allow', { skip, timeout: 30_000 }, async (t) => {
  const app = createApp({ routes: dashboard({ authorize: () => false }) });
  const server = await startServer(app);
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const response = await page.goto(`${server.url}/coda`);
  assert.equal(response?.status(), 403);
});

test('Retry that the server does not answer (it is down) says so on the page, and gives its buttons back', { skip, timeout: 60_000 }, async (t) => {
  const charge = task('charge', () => {
    throw new NonRetryableError('card declined');
  });
  const app = createApp({
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: [
      post('/orders', () => {
        after(charge, {});
        return new HttpResponse('accepted', { status: 202 });
      }),
      ...dashboard({ authorize: () => true, intervalMs: 50 }),
    ],
  });
  const server = await startServer(app);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.url}/coda`);
  assert.equal((await fetch(`${server.url}/orders`, { method: 'POST' })).status, 202);
  const card = page.locator('.failed-task');
  await card.waitFor();
  // The page keeps the card it drew; its POST now meets a closed port.
  await server.close();
  await page.locator('#status.down').waitFor();
  const retry = card.locator('button[data-action="retry"]');
  await retry.click();
  // The fetch's rejection went unhandled: nothing on the page, the click seemed to do nothing.
  await page.locator('#action-error', { hasText: /^Could not retry task \S+: no answer from the server \(.+\)$/ }).waitFor({ timeout: 10_000 });
  assert.equal(await retry.isDisabled(), false);
  assert.deepEqual(errors, []);
});

test('hostile text in chromium: after-response task names (U+2028, U+2029 and javascript: among them), error messages, a payload and request paths with HTML in them are shown as text, and nothing runs', { skip, timeout: 60_000 }, async (t) => {
  // Each would set window.pwned if the page put it in as HTML (and the CSP let it run).
  const name = '<img src=x onerror="window.pwned=1">';
  const thrown = '</span><script>window.pwned=2</script>';
  const declined = '<img src=y onerror="window.pwned=4">';
  const path = '/x/</td><script>window.pwned=5</script>';
  // Line and paragraph separators end no line of the event stream, and break no JSON; a javascript: URL is only text (the page makes no link).
  const separated = 'a\u2028b\u2029c javascript:window.pwned=7';
  // A durable task's name is refused unless plain (task()), so not among them.
  const hostile = task('charge', () => {
    throw new NonRetryableError(declined);
  });
  const app = createApp({
    accessLog: false,
    tasks: { definitions: [hostile], store: sqliteStore({ path: ':memory:' }) },
    routes: [
      post('/orders', () => {
        after(() => {}, { name });
        after(() => {}, { name: separated });
        after(() => { throw new Error(thrown); }, { name: 'thrower' });
        after(hostile, { note: '</pre><script>window.pwned=6</script>' });
        return new HttpResponse('accepted', { status: 202 });
      }),
      ...dashboard({ authorize: () => true, intervalMs: 50 }),
    ],
  });
  const server = await startServer(app);
  t.after(() => server.close());
  const { page, errors } = await openPage(t);
  await page.goto(`${server.url}/coda`);
  await page.locator('#status.live').waitFor();
  assert.equal((await fetch(`${server.url}/orders`, { method: 'POST' })).status, 202);
  // A path fetch() would percent-encode, sent as it is.
  assert.equal((await rawRequest(server, rawGet(path))).status, 404);
  // Waits on the page alone: app.settle() would wait for the page's event stream, a request in flight until it closes.

  const card = page.locator('.failed-task');
  await card.waitFor();
  assert.equal(await card.locator('pre').textContent(), '{"note":"</pre><script>window.pwned=6</script>"}');
  assert.equal(await card.locator('ol li').textContent(), `NonRetryableError: ${declined}`);
  await page.locator('#recent td', { hasText: `GET ${path}` }).waitFor();
  await page.locator(`#tasks tr[data-task="${name.replaceAll('"', '\\"')}"] code`, { hasText: name }).waitFor();
  assert.equal(await page.locator('#tasks code', { hasText: 'javascript:' }).textContent(), separated);
  assert.equal(await page.locator('a').count(), 0);
  const chip = page.locator('#recent .chip.failed', { hasText: 'thrower failed' });
  await chip.waitFor();
  assert.equal(await chip.getAttribute('title'), `Error: ${thrown}`);
  assert.equal(await page.locator('#recent .chip', { hasText: `${name} completed` }).count(), 1);
  // No element came of the text: the page's own script is its only one, and it has no image or SVG.
  assert.equal(await page.locator('script').count(), 1);
  assert.equal(await page.locator('img, svg').count(), 0);
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
  assert.deepEqual(errors, []);
});

