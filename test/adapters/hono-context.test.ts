// Hono's Context class gets Coda's c.after once coda() is made, in a process
// of its own (node --test runs each file in one): here no request has gone
// through Coda's middleware before, which is what the case is about.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Hono } from 'hono';
import { coda as honoCoda } from 'coda-http/hono';
import { printed } from './run-fixture.js';

const MOUNT_FIRST = "c.after() was called for a request Coda's middleware did not see: mount it before the routes that use it";

/** An app of `HonoApp` whose route `/early` comes before Coda's middleware (which so does not cover it); `errors` gets what c.after threw there. */
function earlyApp(HonoApp: typeof Hono): { app: Hono; errors: unknown[] } {
  const app = new HonoApp();
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
  return { app, errors };
}

test("Hono: c.after on a route Coda's middleware does not cover, before any request went through it, says to mount it first (it was a bare TypeError)", async () => {
  const { app, errors } = earlyApp(Hono);
  // coda() loads Hono's Context to prepare it: the same module, loaded here too, is ready once this resolves.
  await import('hono');
  assert.equal(await (await app.request('/early')).text(), 'early');
  assert.deepEqual(errors.map(String), [`Error: ${MOUNT_FIRST}`]);
});

test("Hono: c.after in the very tick coda() was called (before an import() of Hono could resolve) says to mount the middleware (it was a bare TypeError)", async () => {
  assert.deepEqual(await printed('hono-tick.mjs'), { early: `Error: ${MOUNT_FIRST}` });
});

test("Hono: a stream() helper's onAbort() listener given in the very tick coda() was called (before an import() of Hono could resolve) runs in its request, run from outside it: after() works there (it said 'outside a request')", async () => {
  assert.deepEqual(await printed('hono-abort-tick.mjs'), ['aborted true']);
});

test("Hono loaded with require() (its CommonJS build, another Context class): c.after on a route Coda's middleware does not cover, before any request went through it, says to mount it first (it was undefined: 'c.after is not a function')", async () => {
  const { Hono: CommonJsHono } = createRequire(import.meta.url)('hono') as typeof import('hono');
  assert.notEqual(CommonJsHono, Hono, 'require() gave the ES module: this case tests nothing');
  const { app, errors } = earlyApp(CommonJsHono);
  assert.equal(await (await app.request('/early')).text(), 'early');
  assert.deepEqual(errors.map(String), [`Error: ${MOUNT_FIRST}`]);
});
