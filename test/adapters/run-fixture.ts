// Runs a fixture (test/adapters/fixtures/) in a process of its own, for what
// must not share the test runner's: a module's first tick, process-wide
// handlers. Its result is the one JSON line it prints.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** Runs `fixture` and resolves with the JSON line it prints; fails if it does not exit 0 within 10 s (killed). */
export async function printed(fixture: string): Promise<unknown> {
  // With tsx's ESM loader only: tsx's require hook (on in the runner) compiles what require() loads, a copy of Hono no app uses.
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx/esm', new URL(`fixtures/${fixture}`, import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
    timeout: 10_000,
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  assert.equal(code, 0, `fixtures/${fixture} exited with ${code} (null: killed after 10 s), having printed ${JSON.stringify(out)}`);
  return JSON.parse(out);
}
