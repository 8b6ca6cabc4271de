// The dashboard's actions and page against another site, in a real browser:
// a page at http://localhost:<port> (another site than the dashboard's
// http://127.0.0.1:<port>, and on this machine too, so chromium's guard for
// private networks stays out of the way) tries to Retry a failed task and to frame the dashboard. authorize() lets
// in every request from this machine, as an allowlist by network would: only
// the guard against other sites stands between the attacker's page and the
// action.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { cors, createApp, dashboard, get, HttpResponse, NonRetryableError, sqliteStore, task, type App, type MiddlewareHooks } from 'coda-http';
import type { Page } from 'playwright-core';
import { startServer } from '../helpers.js';
import { launchChromium, missingBrowser } from './chromium.js';

const skip = missingBrowser();

/**
 * An app whose one durable task has failed for good, on a server; its id, the
 * page's URL, and each request's method, path and status as answered (the
 * dashboard leaves out its own requests that authorize() let in, refused
 * actions among them: this shows each reached the server).
 */
async function failedTask(t: TestContext, middleware: MiddlewareHooks[]): Promise<{ app: App; id: string; base: string; answered: string[] }> {
  const answered: string[] = [];
  const record: MiddlewareHooks = {
    processResponse: (request, response) => {
      answered.push(`${request.method} ${request.path} ${response.status}`);
      return response;
    },
  };
  const charge = task('charge', () => {
    throw new NonRetryableError('card declined');
  });
  const app = createApp({
    middleware: [...middleware, record],
    accessLog: false,
    tasks: { definitions: [charge], store: sqliteStore({ path: ':memory:' }) },
    routes: dashboard({ authorize: () => true }),
  });
  const server = await startServer(app);
  t.after(() => server.close());
  await app.tasks.enqueue(charge, {});
  await app.settle();
  const [failed] = await app.tasks.list({ state: 'failed' });
  assert.ok(failed, 'the task failed');
  return { app, id: failed.id, base: `${server.url}/coda`, answered };
}

/** A fresh chromium's page (closed when the test ends) of the attacker's, at `host`, showing `body`, loaded (its frames too); the URLs it asked the network for. */
async function attackerPage(t: TestContext, host: string, body = ''): Promise<{ page: Page; requested: string[] }> {
  const html = `<!doctype html><title>cute cats</title>${body}`;
  const attacker = createApp({ accessLog: false, routes: [get('/', () => new HttpResponse(html, { headers: { 'content-type': 'text/html; charset=utf-8' } }))] });
  const server = await startServer(attacker);
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(server.url.replace('//127.0.0.1:', `//${host}:`));
  return { page, requested };
}

test('another site cannot Retry a task: its form POST and its no-cors fetch reach the server and are refused, its fetch with the header is stopped by the browser', { skip, timeout: 60_000 }, async (t) => {
  const { app, id, base, answered } = await failedTask(t, []);
  const action = `${base}/tasks/${id}/retry`;
  const { page } = await attackerPage(t, 'localhost', `<form method="POST" action="${action}"><button>Win a prize</button></form>`);

  // Sent without asking (a simple request): it reaches the server, and only the missing header refuses it.
  await page.evaluate((url) => fetch(url, { method: 'POST', mode: 'no-cors' }).then(() => undefined), action);
  // Needs a preflight, which the app does not grant: the browser never sends the POST.
  const blocked = await page.evaluate((url) => fetch(url, { method: 'POST', headers: { 'x-coda-dashboard': '1' } }).then(() => 'sent', (error: Error) => error.name), action);
  assert.equal(blocked, 'TypeError');
  // A form posted across sites, the classic forgery: the page navigates to the server's answer.
  await Promise.all([page.waitForURL(action), page.click('button')]);
  assert.match(await page.locator('body').textContent() ?? '', /dashboard actions need the x-coda-dashboard: 1 header/);

  assert.equal((await app.tasks.get(id))?.state, 'failed', 'the task was not retried');
  const path = `/coda/tasks/${id}/retry`;
  assert.deepEqual(answered.filter((line) => line.includes(path)), [`POST ${path} 403`, `OPTIONS ${path} 204`, `POST ${path} 403`], 'the no-cors fetch refused, the preflight not followed by its POST, the form POST refused');
});

// Another port of the same host is the same site: a page there, as a page of a sibling subdomain, is refused alike.
for (const [host, site] of [['localhost', 'cross-site'], ['127.0.0.1', 'same-site']] as const) {
  test(`another ${site === 'same-site' ? 'origin of the same site' : 'site'} cannot Discard a task even when the app's cors() lets every origin send the header: the browser's Sec-Fetch-Site (${site}) refuses it`, { skip, timeout: 60_000 }, async (t) => {
    // A public API's permissive CORS, put first for the whole app: the preflight for the dashboard's action is granted too.
    const { app, id, base } = await failedTask(t, [cors({ origins: '*' })]);
    const { page } = await attackerPage(t, host);
    const answer = await page.evaluate(async (url) => {
      const response = await fetch(url, { method: 'POST', headers: { 'x-coda-dashboard': '1' } });
      return { status: response.status, text: await response.text() };
    }, `${base}/tasks/${id}/discard`);
    assert.deepEqual(answer, { status: 403, text: `dashboard actions are refused from another site (Sec-Fetch-Site: ${site})` });
    assert.equal((await app.tasks.get(id))?.state, 'failed', 'the task was not discarded');
  });
}

test('another site cannot frame the dashboard (clickjacking its Retry and Discard): chromium refuses the frame, and the page\'s script is never asked for', { skip, timeout: 60_000 }, async (t) => {
  const { base } = await failedTask(t, []);
  // Loaded once its frame is: after the frame's deferred script would have been fetched and run.
  const { requested } = await attackerPage(t, 'localhost', `<iframe src="${base}"></iframe>`);
  assert.ok(requested.includes(base), `the frame asked for the page: ${requested.join(', ')}`);
  assert.deepEqual(requested.filter((url) => url.startsWith(`${base}/`)), [], 'the page was not shown: nothing it names was fetched');
});
