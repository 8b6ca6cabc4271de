// Hono's Context class gets Coda's c.after once coda() is made, in a process
// of its own (node --test runs each file in one): here no request has gone
// through Coda's middleware before, which is what the case is about.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { coda as honoCoda } from 'coda-http/hono';
import { printed } from './run-fixture.js';

test("Hono: c.after on a route Coda's middleware does not cover, before any request went through it, says to mount it first (it was a bare TypeError)", async () => {
  const app = new Hono();
  const errors: unknown[] = [];
  app.get('/early', (c) => {
    try {
      c.after(() => {});
    } catch (error) {
      errors.push(error);
    }
    return c.text('early');
  });
  app.use(honoCoda());
  // coda() loads Hono's Context to prepare it: the same module, loaded here too, is ready once this resolves.
  await import('hono');
  assert.equal(await (await app.request('/early')).text(), 'early');
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "c.after() was called for a request Coda's middleware did not see: mount it before the routes that use it");
});

test("Hono: c.after in the very tick coda() was called (before an import() of Hono could resolve) says to mount the middleware (it was a bare TypeError)", async () => {
  assert.deepEqual(await printed('hono-tick.mjs'), { early: "Error: c.after() was called for a request Coda's middleware did not see: mount it before the routes that use it" });
});

test("Hono: a stream() helper's onAbort() listener given in the very tick coda() was called (before an import() of Hono could resolve) runs in its request, run from outside it: after() works there (it said 'outside a request')", async () => {
  assert.deepEqual(await printed('hono-abort-tick.mjs'), ['aborted true']);
});
