import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { sqliteStore } from 'coda-http';
import { createTestClient } from 'coda-http/testing';
import { notesService } from '../../examples/notes-service/app.js';

const token = 't0ken';
const auth = { authorization: `Bearer ${token}` };
const frontendOrigin = 'https://notes.example';

interface Delivery { key: string; change: unknown }

/** A real webhook receiver on loopback: answers each POST with the next status given (200 once they run out). */
async function receiver(statuses: number[] = []): Promise<{ url: string; deliveries: Delivery[]; server: Server }> {
  const deliveries: Delivery[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    deliveries.push({ key: String(req.headers['idempotency-key']), change: JSON.parse(body) });
    res.writeHead(statuses.shift() ?? 200).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks`, deliveries, server };
}

test('notes-service in-process: auth by token or signed cookie, CRUD, an upload and its download, its after-response work and webhooks with retries', async (t) => {
  const hooks = await receiver([503]);
  t.after(() => hooks.server.close());
  const app = notesService({ token, secret: 'the notes service secret of the tests, 32+ characters', webhookUrl: hooks.url, frontendOrigin });
  await using client = createTestClient(app);

  const refused = await client.get('/api/notes');
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await client.post('/api/login', { json: { token: 'wrong', user: 'ada' } })).status, 403);
  const login = await client.post('/api/login', { json: { token, user: 'ada' } });
  assert.equal(login.status, 200);
  assert.match(login.headers.getSetCookie()[0] ?? '', /^session=.+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
  assert.deepEqual(await (await client.get('/api/me')).json(), { user: 'ada' }, 'the signed cookie signs the client in');
  const forged = await client.get('/api/me', { headers: { cookie: 'session=admin' } });
  assert.equal(forged.status, 401, 'an unsigned cookie reads as absent');

  const created = await client.post('/api/notes', { headers: auth, json: { text: 'buy oat milk' } });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('location'), '/api/notes/1');
  assert.deepEqual(await created.json(), { id: 1, text: 'buy oat milk', version: 1, attachment: null });
  const invalid = await client.post('/api/notes', { headers: auth, json: { text: '  ' } });
  assert.equal(invalid.status, 400);
  assert.equal((await client.get('/api/notes/x', { headers: auth })).status, 400);
  assert.equal((await client.get('/api/notes/9', { headers: auth })).status, 404);

  const form = new FormData();
  form.append('file', new File(['col\n1\n'], 'report été.csv', { type: 'text/csv' }));
  const uploaded = await client.put('/api/notes/1/attachment', { headers: auth, form });
  assert.deepEqual(await uploaded.json(), { id: 1, text: 'buy oat milk', version: 2, attachment: 'report été.csv' });
  const download = await client.get('/api/notes/1/attachment', { headers: auth });
  assert.equal(download.status, 200);
  assert.equal(download.headers.get('content-type'), 'text/csv');
  assert.equal(download.headers.get('content-disposition'), `attachment; filename="report _t_.csv"; filename*=UTF-8''report%20%C3%A9t%C3%A9.csv`);
  assert.equal(await download.text(), 'col\n1\n');
  assert.equal((await client.put('/api/notes/1/attachment', { headers: auth, form: { file: 'not a file' } })).status, 400);

  assert.equal((await client.delete('/api/notes/1', { headers: auth })).status, 204);
  await client.post('/api/notes', { headers: auth, json: { text: 'call the plumber today' } });
  await client.settle();

  assert.deepEqual(await (await client.get('/api/stats', { headers: auth })).json(), { notes: 1, words: 4 }, 'count-words ran after each write');
  const states = client.tasks.filter((task) => task.name === 'deliver-webhook').map((task) => task.state);
  assert.deepEqual(states, ['retrying', 'completed', 'completed', 'completed', 'completed'], 'the first delivery got a 503 and was retried');
  // The first delivery's retry comes last: settle() moved the clock to its backoff once the others were done.
  assert.deepEqual(hooks.deliveries.map((delivery) => delivery.change), [
    { event: 'created', id: 1, version: 1 }, { event: 'updated', id: 1, version: 2 }, { event: 'deleted', id: 1, version: 3 },
    { event: 'created', id: 2, version: 1 }, { event: 'created', id: 1, version: 1 },
  ]);
  assert.equal(hooks.deliveries[0]?.key, hooks.deliveries[4]?.key, 'a retry sends the same idempotency key');
  assert.equal(client.tasks.filter((task) => task.name === 'count-words' && task.state === 'completed').length, 4);
});

test('notes-service over a socket: the front page, CORS, gzip, ETags and 304s, metrics and the dashboard', async () => {
  const hooks = await receiver();
  await using client = createTestClient(notesService({ token, secret: 'the notes service secret of the tests, 32+ characters', webhookUrl: hooks.url, frontendOrigin }), { transport: 'socket' });
  try {
    const page = await client.get('/');
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await page.text(), /<h1>Notes<\/h1>/);

    const preflight = await client.request('OPTIONS', '/api/notes', { headers: { origin: frontendOrigin, 'access-control-request-method': 'PUT' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), frontendOrigin);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.equal((await client.get('/api/notes', { headers: { origin: 'https://evil.example', ...auth } })).headers.get('access-control-allow-origin'), null);

    for (let i = 0; i < 40; i += 1) await client.post('/api/notes', { headers: auth, json: { text: `note number ${i} with some words in it` } });
    const list = await client.get('/api/notes', { headers: { ...auth, 'accept-encoding': 'gzip' } });
    assert.equal(list.headers.get('content-encoding'), 'gzip');
    assert.equal(JSON.parse(gunzipSync(list.body).toString()).length, 40);
    const etag = list.headers.get('etag');
    assert.match(etag ?? '', /^W\/"/, 'compress() weakens the strong ETag conditionalGet() made');
    const again = await client.get('/api/notes', { headers: { ...auth, 'accept-encoding': 'gzip', 'if-none-match': etag ?? '' } });
    assert.equal(again.status, 304);

    const metrics = await client.get('/api/metrics', { headers: auth });
    assert.equal(metrics.status, 200);
    // The registry is prom-client's global one, which every app of this process shares: count the 304, this test's own.
    assert.match(await metrics.text(), /^http_request_duration_seconds_count\{method="GET",route="\/api\/notes",status_code="304"\} 1$/m);

    assert.equal((await client.get('/coda')).status, 403, 'the dashboard is for the admin session only');
    await client.post('/api/login', { json: { token, user: 'admin' } });
    const dashboard = await client.get('/coda');
    assert.equal(dashboard.status, 200);
    assert.match(dashboard.headers.get('content-type') ?? '', /^text\/html/);
    await client.settle();
  } finally {
    hooks.server.close();
  }
});

test('notes-service on a SQLite file: server-sent events of each change, and the webhooks journaled in the file run', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'notes-service-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hooks = await receiver();
  t.after(() => hooks.server.close());
  const app = notesService({ token, secret: 'the notes service secret of the tests, 32+ characters', webhookUrl: hooks.url, frontendOrigin, tasks: sqliteStore({ path: path.join(dir, 'tasks.db') }) });
  // tasks: 'app' keeps the SQLite file rather than a fresh in-memory store.
  await using client = createTestClient(app, { transport: 'socket', tasks: 'app', headers: auth });

  // The client reads a response whole: an event stream that does not end is read with fetch at its server.
  const leave = new AbortController();
  const events = await fetch(`${await client.url()}/api/changes`, { headers: auth, signal: leave.signal });
  assert.equal(events.headers.get('content-type'), 'text/event-stream');
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value, 'retry: 5000\n\n');
  assert.equal((await client.post('/api/notes', { json: { text: 'hello' } })).status, 201);
  assert.equal((await reader.read()).value, `data: ${JSON.stringify({ event: 'created', id: 1, version: 1 })}\n\n`);
  leave.abort();

  await client.settle();
  assert.deepEqual(hooks.deliveries.map((delivery) => delivery.change), [{ event: 'created', id: 1, version: 1 }]);
  const [stored] = await app.tasks.list({ name: 'deliver-webhook' });
  assert.equal(stored?.state, 'completed');
  assert.equal(stored?.key, 'created:1:1');
});
