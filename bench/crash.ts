/**
 * The long crash run: a real server process under load, killed with SIGKILL
 * 20 times and started again on the same SQLite file; then every task of
 * every response the client received must have run. Prints what it measured
 * and writes its part of bench/RESULTS.md (parts.ts). `npm run bench:crash`
 * (the suite's test/durable/crash.test.ts is the short one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crashRun } from '../test/durable/crash-run.js';
import { writePart } from './parts.js';

const kills = Number(process.env.CRASH_KILLS ?? 20);
const dir = mkdtempSync(path.join(tmpdir(), 'coda-crash-bench-'));
try {
  const started = performance.now();
  const result = await crashRun({ db: path.join(dir, 'tasks.db'), kills, requestsBetweenKills: 300, connections: 32 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const runs = [...result.ran.values()].reduce((sum, count) => sum + count, 0);
  const summary = `${kills} SIGKILLs in ${seconds} s: ${result.received.size.toLocaleString('en-US')} responses received, ${result.lost.length} of their tasks lost, ` +
    `${result.duplicates.length} ran twice or more (${runs.toLocaleString('en-US')} runs in all)`;
  process.stdout.write(`${summary}\n`);
  const file = writePart('crash', {
    title: 'Crash run: SIGKILL under load, SQLite',
    command: `CRASH_KILLS=${kills} npm run bench:crash`,
    targets: [
      ['20 SIGKILLs under load, 0 lost', `${kills} SIGKILLs, ${result.lost.length} lost of ${result.received.size.toLocaleString('en-US')}`, kills >= 20 && result.lost.length === 0],
      ['duplicates reported', `${result.duplicates.length} tasks ran twice or more`, null],
    ],
    lines: [
      'A real server process (test/durable/crash-run.ts) answers POSTs from 32 clients at once, each response',
      'with one durable task journaled before its first byte; it is killed with SIGKILL after 300 to 600 more',
      'responses, and started again on the same SQLite file (WAL, synchronous NORMAL); after the last kill, one',
      'more life with no load runs what is left. Every task of every 200 the client received must run.',
      '',
      summary,
      '',
      'A task runs twice when the kill came after its attempt finished and before the attempt\'s end was written:',
      'its lease runs out and it is recovered and run again, as at-least-once promises (docs/durable.md, promise 3).',
    ],
  });
  process.stdout.write(`wrote ${file}\n`);
  if (result.lost.length > 0) {
    process.stdout.write(`lost: ${result.lost.slice(0, 20).join(', ')}\n`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
