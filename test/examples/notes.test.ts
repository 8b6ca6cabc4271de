import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestClient } from 'coda-http/testing';
import { notesApp } from '../../examples/notes/app.js';
import { takenPort } from '../helpers.js';

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

test('npm start on a port in use says so in one line, with how to pick another, and exits 1', async (t) => {
  const port = await takenPort(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-demo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fileURLToPath(new URL('../../examples/notes/main.ts', import.meta.url))], {
    env: { ...process.env, PORT: String(port), NOTES_TASKS_DB: path.join(dir, 'tasks.db') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1);
  // Node 22 warns that node:sqlite is experimental: the demo's line apart from it.
  const lines = stderr.split('\n').filter((line) => line !== '' && !/^\(node:\d+\) ExperimentalWarning|^\(Use `node --trace-warnings/.test(line));
  assert.deepEqual(lines, [`the notes demo cannot listen on 127.0.0.1:${port}: the port is in use (another server; dev servers often take 3000); start it on another: PORT=${port + 1} npm start`]);
});
