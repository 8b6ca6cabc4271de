/**
 * What SQLite alone costs for a durable task's three row writes, without the
 * store's JavaScript around them: `node --conditions=coda-source --import tsx
 * bench/sqlite-floor.ts` (Node 22.13 or later).
 *
 * On the store's own schema and statements, in a file (WAL, synchronous
 * NORMAL), each task is inserted held, moved to running by its id and
 * completed, in batches as one event-loop turn's tasks are: each step its own
 * transaction (as the store writes them today), then the three steps of a
 * batch in one transaction. Prints this process's CPU µs per task (user and
 * system), the median of 5 runs, for batches of 5 and of 50. Compare with
 * `bench:store` (the whole store) and the `durable` scenario's CPU per
 * request over `stack`'s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ensureSchema } from '../src/durable/sqlite-schema.js';
import { prepareStatements, type Statements } from '../src/durable/sqlite-statements.js';
import { timeOrderedId } from '../src/util/time-ordered-id.js';

const TASKS = 50_000;
const RUNS = 5;

function run(batch: number, oneTransaction: boolean): { user: number; system: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-floor-'));
  const db = new DatabaseSync(path.join(dir, 'tasks.db'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
  ensureSchema(db, 'floor');
  const s = prepareStatements(db);
  const step = (work: () => void): void => {
    if (!oneTransaction) s.begin.run();
    work();
    if (!oneTransaction) s.commit.run();
  };
  let added: string[] = [];
  let released: string[] = [];
  const started = process.cpuUsage();
  for (let n = 0; n < TASKS; n += batch) {
    // One turn: this batch journaled, the last one's responses done (released), the one before completed.
    if (oneTransaction) s.begin.run();
    const now = Date.now();
    const completing = released;
    const releasing = added;
    added = [];
    step(() => insertBatch(s, batch, now, added));
    step(() => {
      for (const id of releasing) s.heldToRunning.run(now, '{"status":200}', now + 30_000, now, id, 'me');
    });
    step(() => {
      if (completing.length > 0) s.complete.run(now, JSON.stringify(completing), 'me');
    });
    released = releasing;
    if (oneTransaction) s.commit.run();
  }
  const used = process.cpuUsage(started);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { user: used.user / TASKS, system: used.system / TASKS };
}

function insertBatch(s: Statements, batch: number, now: number, into: string[]): void {
  for (let i = 0; i < batch; i++) {
    const id = timeOrderedId(now);
    s.insert.run(id, 'count', 'held', null, 'always', 3, 30_000, now, 'me', now + 30_000, now, '{"type":"fixed","delayMs":0}', null, null, '{}');
    into.push(id);
  }
}

const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const batch of [5, 50]) {
  for (const oneTransaction of [false, true]) {
    const runs = Array.from({ length: RUNS }, () => run(batch, oneTransaction));
    const user = median(runs.map((r) => r.user));
    const system = median(runs.map((r) => r.system));
    console.log(`batches of ${batch}, ${oneTransaction ? 'one transaction a turn' : 'a transaction a step'}: ${(user + system).toFixed(1)} µs of CPU a task (user ${user.toFixed(1)}, system ${system.toFixed(1)})`);
  }
}
