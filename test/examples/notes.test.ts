import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestClient } from 'coda-http/testing';
import { notesApp } from '../../examples/notes/app.js';

const auth = { authorization: 'Bearer t0ken' };

test('the demo: 401 without a token, notes CRUD with one, and its after-response work runs after each response', async (t) => {
  t.mock.method(console, 'log', () => {});
  const app = notesApp({ token: 't0ken', webhookDelayMs: 1 });
  const client = createTestClient(app);

  const refused = await client.get('/notes');
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('www-authenticate'), 'Bearer');

  const created = await client.post('/notes', { headers: auth, json: { text: 'buy milk' } });
  assert.equal(created.status, 201);
  assert.match(created.headers.get('server-timing') ?? '', /^app;dur=/);
  const note = await created.json<{ id: number }>();
  assert.equal(created.headers.get('location'), `/notes/${note.id}`);
  assert.deepEqual(await (await client.get(`/notes/${note.id}`, { headers: auth })).json(), await created.json());

  const bad = await client.post('/notes', { headers: auth, json: { text: '' } });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /non-empty "text"/);
  assert.equal((await client.get('/notes/abc', { headers: auth })).status, 400);
  assert.equal((await client.get('/notes/99', { headers: auth })).status, 404);

  await client.settle();
  assert.deepEqual(await (await client.get('/stats', { headers: auth })).json(), { count: 1, longest: 8 });
  const tasks = client.tasks.map((task) => `${task.name}:${task.state}`);
  assert.equal(tasks.filter((name) => name === 'webhook:completed').length, 1);
  assert.equal(tasks.filter((name) => name === 'cache-warm:completed').length, 1, 'only the successful create warmed the cache');
  assert.equal(tasks.filter((name) => name === 'auth.afterResponse:completed').length, 6, 'every request the auth middleware saw was audited');

  const exported = await client.get('/export', { headers: auth });
  assert.equal(exported.headers.get('content-type'), 'application/x-ndjson');
  assert.equal((await exported.text()).trim().split('\n').length, 1);
  await client.settle(); // the last audit line is printed while console.log is still mocked
});
