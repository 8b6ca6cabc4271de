// A `coda` command-line process for the tests: its output lines, a wait for
// a line on either stream, and its exit; and a task database for it to use.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

type Waiter = { pattern: RegExp; from: number; resolve: (line: string) => void; reject: (error: Error) => void };

/** A `coda` process: its output lines, a wait for a line, and its exit. */
export interface Cli {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stderr line (seen or to come) that matches; rejects, with what it said, if the process exits first. */
  line(pattern: RegExp, from?: number): Promise<string>;
  /** As `line`, on stdout (the app's log, what its tasks print). */
  outLine(pattern: RegExp, from?: number): Promise<string>;
  exited: Promise<number | null>;
}

export function coda(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', main, ...args], {
    env: { ...process.env, CODA_LOG_LEVEL: 'warn', ...env },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiting = new Map<string[], Waiter[]>([[stdout, []], [stderr, []]]);
  for (const [stream, lines] of [[child.stdout!, stdout], [child.stderr!, stderr]] as const) {
    createInterface({ input: stream }).on('line', (text) => {
      lines.push(text);
      const waiters = waiting.get(lines)!;
      for (const waiter of [...waiters]) {
        if (lines.length - 1 >= waiter.from && waiter.pattern.test(text)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(text);
        }
      }
    });
  }
  // 'close', not 'exit': every line the process wrote has been read then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => {
    for (const waiter of [...waiting.values()].flatMap((waiters) => waiters.splice(0))) {
      waiter.reject(new Error(`coda exited (code ${code}) before writing a line matching ${waiter.pattern}; it said:\n${[...stdout, ...stderr].join('\n')}`));
    }
    resolve(code);
  }));
  const wait = (lines: string[]) => (pattern: RegExp, from = 0): Promise<string> => {
    const seen = lines.slice(from).find((text) => pattern.test(text));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => waiting.get(lines)!.push({ pattern, from, resolve, reject }));
  };
  return { child, stdout, stderr, line: wait(stderr), outLine: wait(stdout), exited };
}

/** A path for a SQLite task database in a folder of its own, removed once the test ends. */
export function tempDb(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'tasks.db');
}

/** Kills the processes `pids` once the test ends: a cluster worker may outlive its primary. */
export function killedAtEnd(t: TestContext, pids: number[]): void {
  t.after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  });
}
