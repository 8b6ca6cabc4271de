// A worker process that prints lines, and the case of a delayed task whose
// worker is SIGKILLed before its time: a new worker runs it once, no sooner.
// Shared by the SQLite and BullMQ worker tests.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { whenCompleted } from './stalled-loop.js';
import type { App, Task } from 'coda-http';

export interface LineWorker {
  child: ChildProcess;
  /** Every line printed, in order. */
  lines: string[];
  /** Resolves at the next line matching `pattern`. */
  printed(pattern: RegExp): Promise<string>;
  /** Its "ready" line. */
  ready: Promise<string>;
}

/** Runs `fixture` (a worker printing "ready", then lines of its own) with `env`, SIGKILLed when the test ends. */
export function lineWorker(t: TestContext, fixture: string, env: Record<string, string>): LineWorker {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CODA_LOG_LEVEL: 'silent', ...env },
  });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (line) => lines.push(line));
  const printed = (pattern: RegExp): Promise<string> => new Promise((resolve) => {
    const onLine = (line: string): void => { if (pattern.test(line)) { reader.off('line', onLine); resolve(line); } };
    reader.on('line', onLine);
  });
  return { child, lines, printed, ready: printed(/^ready$/) };
}

/**
 * Enqueues `record` { n: 7 } `delayMs` out (through `app`, which runs nothing), SIGKILLs the worker `start()` made
 * before its time, runs `between` (another fault), then asserts that a new worker runs it once, no sooner.
 */
export async function assertDelayedOutlivesKill(app: App, record: Task<{ n: number }>, delayMs: number, start: () => LineWorker, between = async (): Promise<void> => {}): Promise<void> {
  const first = start();
  await first.ready;
  const enqueuedAt = Date.now();
  const { id } = await app.tasks.enqueue(record, { n: 7 }, { delayMs });
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  await between();
  assert.deepEqual(first.lines, ['ready'], 'killed before its time');
  const second = start();
  await second.printed(/^ran 7 /);
  assert.ok(Date.now() - enqueuedAt >= delayMs, 'not run before its time');
  const done = await whenCompleted((taskId) => app.tasks.get(taskId), id);
  // "ran <n> <pid>", which the BullMQ fixture follows with the attempt.
  const ran = second.lines.filter((line) => line.startsWith('ran')).map((line) => line.split(' ', 3).join(' '));
  assert.deepEqual([done?.state, done?.attempt, ran], ['completed', 1, [`ran 7 ${second.child.pid}`]]);
}
