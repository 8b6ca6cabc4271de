/**
 * The long crash run: a real server process under load, killed with SIGKILL
 * 20 times and started again on the same SQLite file; then every task of
 * every response the client received must have run. Prints what it measured.
 * `npm run bench:crash` (the suite's test/durable/crash.test.ts is the short one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crashRun } from '../test/durable/crash-run.js';

const kills = Number(process.env.CRASH_KILLS ?? 20);
const dir = mkdtempSync(path.join(tmpdir(), 'coda-crash-bench-'));
try {
  const started = performance.now();
  const result = await crashRun({ db: path.join(dir, 'tasks.db'), kills, requestsBetweenKills: 300, connections: 32 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const runs = [...result.ran.values()].reduce((sum, count) => sum + count, 0);
  process.stdout.write(
    `${kills} SIGKILLs in ${seconds} s: ${result.received.size} responses received, ${result.lost.length} of their tasks lost, ` +
    `${result.duplicates.length} ran twice or more (${runs} runs in all)\n`,
  );
  if (result.lost.length > 0) {
    process.stdout.write(`lost: ${result.lost.slice(0, 20).join(', ')}\n`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
