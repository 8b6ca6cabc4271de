// An adapter's app tested with the test client for its clock: requests go
// through the framework (fastify.inject(), a real socket), the durable tasks
// to the client's in-memory store, and its settle() drives their retries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { sqliteStore, task } from 'coda-http';
import { coda as codaExpress } from 'coda-http/express';
import { coda } from 'coda-http/fastify';
import { createTestClient } from 'coda-http/testing';

/** A Fastify app whose one route registers a task that fails its first two attempts, each retry an hour away. */
async function flakyFastify() {
  let calls = 0;
  const flaky = task('flaky', () => {
    calls++;
    if (calls < 3) throw new Error(`attempt ${calls}`);
  }, { attempts: 3, backoff: { type: 'exponential', delayMs: 60 * 60_000 } });
  const fastify = Fastify();
  // ':memory:' only until the test client replaces it: the file the app would open is never made.
  await fastify.register(coda, { tasks: { definitions: [flaky], store: sqliteStore({ path: ':memory:' }) } });
  fastify.post('/', async (_request, reply) => {
    await reply.after(flaky, {});
    return reply.send('ok');
  });
  return { fastify, calls: () => calls };
}

test('createTestClient(fastify.coda.app) made before fastify.ready(): fastify.inject() requests, and the client\'s settle() runs both hour-long retries at once', async () => {
  const { fastify, calls } = await flakyFastify();
  await using client = createTestClient(fastify.coda.app);
  await fastify.ready();
  try {
    assert.equal((await fastify.inject({ method: 'POST', url: '/' })).statusCode, 200);
    await client.settle({ timeoutMs: 5_000 });
    assert.equal(calls(), 3);
    assert.deepEqual(client.tasks.map((t) => [t.name, t.state, t.attempt]), [['flaky', 'retrying', 1], ['flaky', 'retrying', 2], ['flaky', 'completed', 3]]);
  } finally {
    await fastify.close();
  }
});

test('createTestClient(tasks.app) with Express, made before the first request: over a real socket, the client\'s settle() runs the hour-long retries', async () => {
  let calls = 0;
  const flaky = task('flaky', () => {
    calls++;
    if (calls < 2) throw new Error(`attempt ${calls}`);
  }, { attempts: 2, backoff: { type: 'fixed', delayMs: 60 * 60_000 } });
  const tasks = codaExpress({ tasks: { definitions: [flaky], store: sqliteStore({ path: ':memory:' }) } });
  const app = express();
  app.use(tasks);
  app.post('/', (_req, res) => {
    void res.after(flaky, {}).then(() => res.send('ok'));
  });
  await using client = createTestClient(tasks.app);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' });
    assert.equal(await response.text(), 'ok');
    await client.settle({ timeoutMs: 5_000 });
    assert.equal(calls, 2);
    assert.deepEqual(client.tasks.map((t) => [t.state, t.attempt]), [['retrying', 1], ['completed', 2]]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
