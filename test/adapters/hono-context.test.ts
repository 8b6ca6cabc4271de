// Hono's Context class gets Coda's c.after once coda() is made, in a process
// of its own (node --test runs each file in one): here no request has gone
// through Coda's middleware before, which is what the case is about.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { Hono } from 'hono';
import { coda as honoCoda } from 'coda-http/hono';

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

/** Runs `fixture` (in fixtures/) in a process of its own and resolves with the JSON line it prints. */
async function printed(fixture: string): Promise<unknown> {
  // With tsx's ESM loader only: tsx's require hook (on here) compiles what require() loads, a copy of Hono no app uses.
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx/esm', new URL(`fixtures/${fixture}`, import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  assert.equal(code, 0);
  return JSON.parse(out);
}

test("Hono: c.after in the very tick coda() was called (before an import() of Hono could resolve) says to mount the middleware (it was a bare TypeError)", async () => {
  assert.deepEqual(await printed('hono-tick.mjs'), { early: "Error: c.after() was called for a request Coda's middleware did not see: mount it before the routes that use it" });
});

test("Hono: a stream() helper's onAbort() listener given in the very tick coda() was called (before an import() of Hono could resolve) runs in its request, run from outside it: after() works there (it said 'outside a request')", async () => {
  assert.deepEqual(await printed('hono-abort-tick.mjs'), ['aborted true']);
});
