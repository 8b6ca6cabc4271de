// A flood of requests that each register a durable task, against a real
// server on a SQLite file with `synchronous: 'FULL'` (a disk wait per
// commit): 2,000 requests over 64 connections at once, far more than one
// commit a request could keep up with. Group commit writes each turn's
// registrations in one transaction: every request is answered (a 503 only
// naming the store), every task of a 200 is in the file and runs, none of a
// 503's is written, and the process serves on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { createApp, get, HttpResponse, post, serve, sqliteStore, task } from 'coda-http';
import { memoryLogger } from '../helpers.js';

const REQUESTS = 2_000;
const CONNECTIONS = 64;

test('a flood of durable registrations on a SQLite file: each 200 journaled and run, a 503 only naming the store and writing nothing, the process serving on', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-flood-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tasks.db');
  const ran = new Set<number>();
  const noted = task('noted', ({ n }: { n: number }) => void ran.add(n));
  const app = createApp({
    logger: memoryLogger().logger,
    tasks: { definitions: [noted], store: sqliteStore({ path: file, synchronous: 'FULL' }) },
    routes: [
      post('/notes/:n', (request) => new HttpResponse('saved').after(noted, { n: Number(request.params.n) })),
      get('/ping', () => new HttpResponse('pong')),
    ],
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  try {
    const statuses = new Map<number, number>();
    let next = 0;
    // CONNECTIONS clients, each sending its next request as soon as the last is answered, until REQUESTS were sent.
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      while (next < REQUESTS) {
        const n = next++;
        const res = await fetch(`${server.url}/notes/${n}`, { method: 'POST', headers: { accept: 'application/json' } });
        const body = await res.text();
        if (res.status === 503) assert.match(body, /durable tasks could not be journaled/, `a 503 names the store: ${body}`);
        else assert.equal(res.status, 200, body);
        statuses.set(n, res.status);
      }
    }));
    assert.equal(statuses.size, REQUESTS, 'every request answered');
    assert.equal((await fetch(`${server.url}/ping`)).status, 200, 'the process serves on');
    await app.settle();

    const accepted = [...statuses].filter(([, status]) => status === 200).map(([n]) => n).sort((a, b) => a - b);
    const reader = new DatabaseSync(file);
    const rows = (reader.prepare('SELECT payload, state FROM coda_tasks').all() as { payload: string; state: string }[]);
    reader.close();
    const journaled = rows.map((row) => (JSON.parse(row.payload) as { n: number }).n).sort((a, b) => a - b);
    assert.deepEqual(journaled, accepted, 'the tasks of the 200s are in the file, once each, and none of a 503');
    assert.ok(rows.every((row) => row.state === 'completed'), 'and each ran to its end');
    assert.deepEqual([...ran].sort((a, b) => a - b), accepted);
  } finally {
    await server.close({ timeoutMs: 5_000 });
  }
});
