/**
 * A durable task registered in an adapted request keeps the request's snapshot
 * (docs/durable.md, "Which is which"): its client's address included, as on
 * Coda's own server, though the request is made before the response is done.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import express from 'express';
import Koa from 'koa';
import { sqliteStore, task, type App, type TaskStore } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as koaCoda } from 'coda-http/koa';

const audit = task('audit', () => {});

function store(t: TestContext): TaskStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-snapshot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return sqliteStore({ path: path.join(dir, 'tasks.db') });
}

/** Sends one GET to the server, waits for the tasks, and returns the durable task's snapshot and the ip its in-memory task read. */
async function snapshotAfterOneRequest(app: App, attach: () => { server: import('node:http').Server; close: () => Promise<unknown> }, ips: string[]): Promise<unknown> {
  const { server, close } = attach();
  try {
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'ok');
    await app.settle();
    const [stored] = await app.tasks.list({ name: 'audit' });
    assert.deepEqual(ips, ['127.0.0.1'], 'an after() task of the request reads its ip');
    return stored?.request;
  } finally {
    await close();
  }
}

test('Express: a durable task registered in a request keeps its client\'s ip in its snapshot, and request.ip reads it then (it was undefined: the peer was read only once the response was done)', async (t) => {
  const ips: string[] = [];
  const coda = expressCoda({ tasks: { definitions: [audit], store: store(t) } });
  const app = express();
  app.use(coda);
  app.get('/', async (_req, res) => {
    await res.after(audit, {});
    res.after(({ request }) => { ips.push(String(request.ip)); });
    res.send('ok');
  });
  const snapshot = await snapshotAfterOneRequest(coda.app, () => coda.attach(app.listen(0, '127.0.0.1'), { handleSignals: false }), ips);
  assert.equal((snapshot as { ip?: string }).ip, '127.0.0.1');
});

test('Koa: a durable task registered in a request keeps its client\'s ip in its snapshot', async (t) => {
  const ips: string[] = [];
  const coda = koaCoda({ tasks: { definitions: [audit], store: store(t) } });
  const app = new Koa();
  app.use(coda);
  app.use(async (ctx) => {
    await ctx.after(audit, {});
    ctx.after(({ request }) => { ips.push(String(request.ip)); });
    ctx.body = 'ok';
  });
  const snapshot = await snapshotAfterOneRequest(coda.app, () => coda.attach(app.listen(0, '127.0.0.1'), { handleSignals: false }), ips);
  assert.equal((snapshot as { ip?: string }).ip, '127.0.0.1');
});
