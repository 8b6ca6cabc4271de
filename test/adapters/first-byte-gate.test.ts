/**
 * A response held back for its durable tasks (first-byte-gate.ts) refuses a
 * second answer as Node refuses it once the head is out: the handler, not
 * the replay, meets the refusal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import Koa from 'koa';
import { sqliteStore, task, type Outcome, type TaskStore } from 'coda-http';
import { coda as expressCoda } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as koaCoda } from 'coda-http/koa';
import { deferred } from '../helpers.js';

const held = task('held', () => {});

function store(t: TestContext): TaskStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-gate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return sqliteStore({ path: path.join(dir, 'tasks.db') });
}

/** The response as it came: status, Content-Length and body (a Content-Length longer than the body would leave it hanging). */
async function get(server: Server): Promise<[number | undefined, string | undefined, string]> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve([res.statusCode, res.headers['content-length'], body])).on('error', reject);
    }).on('error', reject);
  });
}

/** The outcome the response's tasks see, as the numbers that tell it: completed, bytes sent, error. */
function noted(outcome: Outcome): [boolean, number, unknown] {
  return [outcome.completed, outcome.bytesSent, outcome.error];
}

for (const [name, createApp] of [['Express', express], ['Express 4', express4 as unknown as typeof express]] as const) {
  test(`${name}: res.send() twice while a durable task holds the response: the second is refused in the handler, as Node refuses it (it was queued, replayed after the first and threw ERR_HTTP_HEADERS_SENT out of the replay: the process crashed); Express's final handler destroys the connection, the first not out yet, its tasks run aborted`, { timeout: 10_000 }, async (t) => {
    const seen = deferred<Outcome>();
    const refused = deferred<unknown>();
    const app = createApp();
    app.set('env', 'test');
    const coda = expressCoda({ tasks: { definitions: [held], store: store(t) } });
    app.use(coda);
    app.get('/', (_req, res) => {
      void res.after(held, {});
      res.after(({ outcome }) => { seen.resolve(outcome); });
      res.send('first');
      res.send('second!');
    });
    app.use((error: NodeJS.ErrnoException, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
      refused.resolve(error.code);
      next(error);
    });
    const server = app.listen(0, '127.0.0.1');
    const { close } = coda.attach(server, { handleSignals: false });
    t.after(() => close());
    await assert.rejects(get(server), { code: 'ECONNRESET' });
    assert.equal(await refused.promise, 'ERR_HTTP_HEADERS_SENT');
    const outcome = await seen.promise;
    assert.deepEqual([outcome.aborted, outcome.error], [true, undefined]);
  });
}

test("Koa: ctx.res.end() by hand, then a body set, while a durable task holds the response: Koa sees the response ended and sends nothing more, as without the task (it wrote the body's head and bytes behind the first: a write after end)", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const errors: unknown[] = [];
  const app = new Koa();
  app.on('error', (error) => { errors.push(error); });
  const coda = koaCoda({ tasks: { definitions: [held], store: store(t) } });
  app.use(coda);
  app.use((ctx) => {
    void ctx.after(held, {});
    ctx.after(({ outcome }) => { seen.resolve(outcome); });
    ctx.res.end('first');
    ctx.body = 'second!';
  });
  const server = app.listen(0, '127.0.0.1');
  const { close } = coda.attach(server, { handleSignals: false });
  t.after(() => close());
  // Koa's status until a body is set: the head ctx.res.end() wrote, as without the task.
  assert.deepEqual(await get(server), [404, '5', 'first']);
  assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
  assert.deepEqual(errors, []);
});

test("Fastify: reply.send() twice while a durable task holds the reply: the second is refused as a reply already sent, as without the task; the first goes out whole", { timeout: 10_000 }, async (t) => {
  const seen = deferred<Outcome>();
  const fastify = Fastify();
  await fastify.register(fastifyCoda, { tasks: { definitions: [held], store: store(t) } });
  fastify.get('/', (_request, reply) => {
    void reply.after(held, {});
    reply.after(({ outcome }) => { seen.resolve(outcome); });
    reply.send('first');
    reply.send('second!');
  });
  t.after(() => fastify.close());
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  assert.deepEqual(await get(fastify.server), [200, '5', 'first']);
  assert.deepEqual(noted(await seen.promise), [true, 5, undefined]);
});
