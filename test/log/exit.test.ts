// A process shut down by a signal exits within its shutdown timeout whatever
// its stdout does: a pipe full that nobody reads, a reader gone mid-write.
// Real processes, their stdout a real pipe.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/stuck-stdout.ts', import.meta.url));
/** The fixture's shutdown timeout is 1 s: this is its bound, and the time to start Node with it. */
const BOUND_MS = 8_000;

/** The fixture (`serve`, `two-apps` or `worker`), its stdout a pipe full and unread (unless `read`), once it says it is ready. */
async function stuck(t: TestContext, kind: 'serve' | 'two-apps' | 'worker', read = false): Promise<{ child: ChildProcess; stderr: () => string; stdout: () => string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-exit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture, kind, path.join(dir, 'tasks.db')], {
    env: { ...process.env, CODA_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  if (read) child.stdout!.setEncoding('utf8').on('data', (text: string) => { out += text; });
  else child.stdout!.pause();
  let said = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { said += text; });
  while (!said.includes('ready\n')) {
    const [text] = await Promise.race([once(child.stderr!, 'data'), once(child, 'exit').then(() => [undefined])]);
    assert.notEqual(text, undefined, `the fixture exited before it was ready: ${said}`);
  }
  return { child, stderr: () => said, stdout: () => out };
}

/** Its exit code, or a failure if it has not exited within the bound. */
async function exitCode(child: ChildProcess, stderr: () => string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${BOUND_MS} ms after SIGTERM; its stderr: ${stderr()}`)), BOUND_MS);
  });
  try {
    const [code] = await Promise.race([once(child, 'exit'), late]);
    return code as number | null;
  } finally {
    clearTimeout(timer);
  }
}

for (const kind of ['serve', 'two-apps', 'worker'] as const) {
  test(`SIGTERM ends a process (${kind}) whose stdout is a full pipe nobody reads, within its shutdown timeout`, async (t) => {
    const { child, stderr } = await stuck(t, kind);
    child.kill('SIGTERM');
    assert.equal(await exitCode(child, stderr), 0);
  });

  test(`a second SIGTERM ends a process (${kind}) whose stdout is a full pipe nobody reads, at once and with no error`, async (t) => {
    const { child, stderr } = await stuck(t, kind);
    child.kill('SIGTERM');
    while (!stderr().includes('SIGTERM seen')) await once(child.stderr!, 'data');
    child.kill('SIGTERM');
    assert.equal(await exitCode(child, stderr), 1);
    assert.doesNotMatch(stderr(), /Error/);
  });

  test(`SIGTERM ends a process (${kind}) whose stdout's reader goes while its log is stuck`, async (t) => {
    const { child, stderr } = await stuck(t, kind);
    child.kill('SIGTERM');
    while (!stderr().includes('SIGTERM seen')) await once(child.stderr!, 'data');
    child.stdout!.destroy();
    assert.equal(await exitCode(child, stderr), 0);
  });

  test(`SIGTERM to a process (${kind}) whose stdout is read: every last line is written, and an 'exit' listener that logs is no error`, async (t) => {
    const { child, stderr, stdout } = await stuck(t, kind, true);
    const closed = once(child.stdout!, 'end');
    child.kill('SIGTERM');
    assert.equal(await exitCode(child, stderr), 0);
    await closed;
    assert.match(stdout(), kind === 'worker' ? /"msg":"worker stopped: / : /"msg":"process shutdown complete: /);
    assert.doesNotMatch(stderr(), /Error/);
  });
}
