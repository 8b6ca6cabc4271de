// A Redis filled by the registrations themselves (maxmemory reached,
// maxmemory-policy noeviction): a registration it refuses gets the documented
// 503 naming the store and Redis's OOM; the releases and lease renewals it
// refuses meanwhile are tried again; once it has room, every task answered
// 202 is in the store once, whole and ready, and none answered 503 is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { after, createApp, HttpResponse, post, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { useRedis } from './redis-server.js';

const { missing, server } = useRedis();

test('a Redis filled by registrations (maxmemory, noeviction): the refused ones get 503 naming the store and OOM; once it has room, every task answered 202 is stored once, whole and ready, none answered 503 is', { timeout: 60_000, skip: missing }, async (t) => {
  const admin = new Redis({ port: server().port });
  t.after(async () => {
    await admin.config('SET', 'maxmemory', '0');
    admin.disconnect();
  });
  const record = task('record', () => {});
  const app = createApp({
    logger: pino({ level: 'silent' }),
    routes: [post('/work/:n', (request) => {
      // A payload of 4 KB: Redis fills within a few hundred registrations.
      after(record, { n: Number(request.params.n), padding: 'x'.repeat(4096) });
      return new HttpResponse('accepted', { status: 202 });
    })],
    tasks: { definitions: [record], store: bullmqStore({ connection: { port: server().port }, prefix: 'full' }), run: false, leaseMs: 1000 },
  });
  const web = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  t.after(() => web.close({ timeoutMs: 1000 }));
  const used = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))![1]);
  await admin.config('SET', 'maxmemory', String(used + 1024 * 1024));

  const accepted = new Set<number>();
  const refused = new Set<number>();
  let next = 0;
  // Four clients, until 20 registrations were refused (at most 5,000 requests).
  const client = async (): Promise<void> => {
    while (next < 5_000 && refused.size < 20) {
      const n = next++;
      const response = await fetch(`${web.url}/work/${n}`, { method: 'POST' });
      const body = await response.text();
      if (response.status === 202) {
        accepted.add(n);
        continue;
      }
      assert.equal(response.status, 503, body);
      assert.match(response.headers.get('retry-after') ?? '', /^\d+$/);
      assert.match(body, /bullmq store redis:\/\/127\.0\.0\.1:\d+\/0 \(prefix full\) is unavailable: OOM command not allowed/);
      refused.add(n);
    }
  };
  await Promise.all(Array.from({ length: 4 }, client));
  assert.equal(refused.size >= 20, true, `Redis filled: ${accepted.size} accepted, ${refused.size} refused`);
  assert.ok(accepted.size > 0);

  await admin.config('SET', 'maxmemory', '0');
  // The releases Redis refused are written again (a bounded number of looks at the store): nothing is left held.
  let stats = await app.tasks.stats();
  for (let look = 0; look < 400 && stats.held + stats.running > 0; look++) {
    await delay(50);
    stats = await app.tasks.stats();
  }
  assert.deepEqual({ held: stats.held, running: stats.running, ready: stats.ready, failed: stats.failed }, { held: 0, running: 0, ready: accepted.size, failed: 0 });
  const stored = await app.tasks.list({ state: 'ready', limit: 10_000 });
  const numbers = stored.map(({ payload }) => (JSON.parse(payload) as { n: number; padding: string }));
  assert.ok(numbers.every(({ padding }) => padding.length === 4096), 'each payload whole');
  assert.deepEqual(numbers.map(({ n }) => n).sort((a, b) => a - b), [...accepted].sort((a, b) => a - b), 'the accepted tasks, each once, and none refused');
  t.diagnostic(`${accepted.size} accepted, ${refused.size} refused`);
});
