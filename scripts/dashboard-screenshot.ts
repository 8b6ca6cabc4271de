// `npm run docs:screenshot`: serves a small app with the dashboard, sends it
// some traffic (a few durable tasks fail for good), and saves what chromium
// shows to docs/dashboard.png. Needs /usr/bin/chromium.
import { fileURLToPath } from 'node:url';
import { after, createApp, dashboard, get, HttpResponse, JsonResponse, NonRetryableError, post, serve, sqliteStore, task } from 'coda-http';
import { launchChromium } from '../test/dashboard/chromium.js';

const output = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));

const sendWelcome = task('send-welcome', async (payload: { userId: number; email: string }) => {
  await new Promise((resolve) => setTimeout(resolve, 5 + (payload.userId % 7) * 3));
  if (payload.email.endsWith('.invalid')) throw new NonRetryableError(`mailbox ${payload.email} does not exist`);
});
const app = createApp({
  tasks: { definitions: [sendWelcome], store: sqliteStore({ path: ':memory:' }) },
  routes: [
    post('/users', (request) => {
      const userId = Number(request.query.get('id'));
      after(sendWelcome, { userId, email: userId % 9 === 4 ? `user${userId}@example.invalid` : `user${userId}@example.com` });
      return new JsonResponse({ id: userId }, { status: 201 });
    }),
    get('/notes/:id', (request) => {
      after(() => new Promise((resolve) => setTimeout(resolve, 2)), { name: 'touch-note' });
      return new JsonResponse({ id: request.params.id });
    }),
    get('/health', () => new HttpResponse('ok')),
    ...dashboard({ path: '/coda', authorize: () => true, intervalMs: 200, recentRequests: 12 }),
  ],
});

const server = await serve(app, { port: 0, handleSignals: false });
try {
  for (let i = 1; i <= 30; i++) {
    await fetch(`${server.url}/users?id=${i}`, { method: 'POST' });
    await fetch(`${server.url}/notes/${i}`);
    if (i % 10 === 0) await fetch(`${server.url}/missing/${i}`);
  }
  await app.settle();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/coda`);
    await page.locator('.failed-task').nth(2).waitFor();
    await page.screenshot({ path: output, fullPage: true });
    console.log(`saved ${output}`);
  } finally {
    await browser.close();
  }
} finally {
  await server.close();
}
