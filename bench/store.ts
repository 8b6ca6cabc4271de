/**
 * The SQLite task store without HTTP: `node --conditions=coda-source --import
 * tsx bench/store.ts [--json]` (Node 22.13 or later), or `npm run bench:store`;
 * writes its part of bench/RESULTS.md (parts.ts).
 *
 * Each task goes the way a durable task of a request goes in the web process
 * that runs it: journaled held (in batches of 100, as one event-loop turn's
 * registrations), released and claimed at once (the release carrying the
 * runner's claim) and completed (in batches of 100), each step one
 * transaction, on a file in a fresh temp directory. Tasks per second through
 * all three steps, the median of 5 runs of 100,000: by the clock, and per
 * second of this process's CPU time (what the store costs, whatever else the
 * machine runs). With the default settings (WAL, synchronous NORMAL) and
 * time-ordered ids; then enqueued rather than held (add ready, claim,
 * complete: `app.tasks.enqueue()`); then with random UUIDs (each insert lands
 * on a random page of the id index); then with synchronous FULL. Last, what a
 * pending task costs: the heap the store keeps for a held task (its response
 * not yet done: the web process's own memory, measured with `--expose-gc`) and
 * the bytes on disk of a task waiting its turn.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sqliteStore, type SqliteStoreOptions } from '../src/durable/sqlite-store.js';
import type { NewTask } from '../src/durable/store.js';
import { timeOrderedId as timeOrderedAt } from '../src/util/time-ordered-id.js';
import { writePart } from './parts.js';

/** Ids as the app makes them (UUIDv7). */
const timeOrderedId = (): string => timeOrderedAt(Date.now());

const TASKS = 100_000;
const BATCH = 100;
const RUNS = 5;
const OWNER = 'bench';
const OUTCOME = { status: 200, completed: true, aborted: false, bytesSent: 11, startedAt: 1520.25, finishedAt: 1523.5 };
const BACKOFF = { type: 'exponential', delayMs: 1000 } as const;

interface Scenario {
  options: Omit<SqliteStoreOptions, 'path'>;
  newId: () => string;
  /** Journaled held, then released (a request's task), or ready at once (enqueued). */
  held: boolean;
}

interface Rate {
  tasksPerSecond: number;
  tasksPerCpuSecond: number;
}

function batch({ newId, held }: Scenario, first: number, now: number): NewTask[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    id: newId(),
    name: 'send-welcome',
    payload: `{"userId":"${first + i}"}`,
    key: null,
    when: 'always',
    maxAttempts: 5,
    backoff: BACKOFF,
    timeoutMs: 30_000,
    held,
    runAt: now,
    request: { id: `req-${first + i}`, method: 'POST', path: '/users', route: '/users' },
    trace: null,
  }));
}

/** One run of `scenario` on a new file. */
async function run(scenario: Scenario): Promise<Rate> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-store-bench-'));
  const store = sqliteStore({ path: path.join(dir, 'tasks.db'), ...scenario.options });
  try {
    await store.open();
    const now = Date.now();
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let first = 0; first < TASKS; first += BATCH) {
      const tasks = batch(scenario, first, now);
      await store.add(tasks, OWNER, now + 60_000);
      const claim = { names: ['send-welcome'], concurrency: {}, limit: BATCH, now, leaseUntil: now + 60_000 };
      const claimed = scenario.held
        ? (await store.release(tasks.map(({ id }) => ({ id, outcome: OUTCOME, run: true, runAt: now })), OWNER, claim)).claimed
        : await store.claim({ owner: OWNER, ...claim });
      await store.complete(claimed.map(({ id }) => id), OWNER, now);
    }
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const { completed } = await store.stats(now);
    if (completed !== TASKS) throw new Error(`expected ${TASKS} completed tasks, found ${completed}`);
    return { tasksPerSecond: Math.round(TASKS / seconds), tasksPerCpuSecond: Math.round(TASKS / ((user + system) / 1e6)) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function median(scenario: Scenario): Promise<Rate> {
  const rates: Rate[] = [];
  for (let i = 0; i < RUNS; i++) rates.push(await run(scenario));
  const middle = <K extends keyof Rate>(key: K): number => rates.map((rate) => rate[key]).sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
  return { tasksPerSecond: middle('tasksPerSecond'), tasksPerCpuSecond: middle('tasksPerCpuSecond') };
}

/**
 * Heap bytes per held task (100,000 journaled, none released: nothing but the store keeps them), then disk bytes per
 * task once all are released ready, waiting their turn.
 */
async function pending(): Promise<{ heapBytesPerHeldTask: number | null; diskBytesPerReadyTask: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-store-bench-'));
  const file = path.join(dir, 'tasks.db');
  const store = sqliteStore({ path: file });
  const gc = (globalThis as { gc?: () => void }).gc;
  try {
    await store.open();
    const now = Date.now();
    const scenario: Scenario = { options: {}, newId: timeOrderedId, held: true };
    gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let first = 0; first < TASKS; first += BATCH) await store.add(batch(scenario, first, now), OWNER, now + 60_000);
    gc?.();
    const heldHeap = process.memoryUsage().heapUsed - before;
    const held = await store.list({ state: 'held', limit: TASKS });
    for (let first = 0; first < TASKS; first += BATCH) {
      await store.release(held.slice(first, first + BATCH).map(({ id }) => ({ id, outcome: OUTCOME, run: true, runAt: now })), OWNER);
    }
    const { ready } = await store.stats(now);
    if (ready !== TASKS) throw new Error(`expected ${TASKS} ready tasks, found ${ready}`);
    await store.close();
    const disk = statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    return { heapBytesPerHeldTask: gc === undefined ? null : Math.round(heldHeap / TASKS), diskBytesPerReadyTask: Math.round(disk / TASKS) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const result = {
  node: process.version,
  tasks: TASKS,
  batch: BATCH,
  held: await median({ options: {}, newId: timeOrderedId, held: true }),
  enqueued: await median({ options: {}, newId: timeOrderedId, held: false }),
  randomIds: await median({ options: {}, newId: randomUUID, held: true }),
  full: await median({ options: { synchronous: 'FULL' }, newId: timeOrderedId, held: true }),
  pending: await pending(),
};
const rows: [string, Rate][] = [
  ['held: add, release claiming, complete', result.held],
  ['enqueued: add, claim, complete', result.enqueued],
  ['held, random UUIDs as ids', result.randomIds],
  ['held, synchronous FULL', result.full],
];
/** The pending task's cost as RESULTS.md shows it. */
function pendingFigure({ heapBytesPerHeldTask, diskBytesPerReadyTask }: typeof result.pending): string {
  const heap = heapBytesPerHeldTask === null ? 'heap not measured (run with --expose-gc)' : `${heapBytesPerHeldTask.toLocaleString('en-US')} B of heap a held task`;
  return `${heap}, ${diskBytesPerReadyTask.toLocaleString('en-US')} B on disk a ready task`;
}

const file = writePart('store', {
  title: 'SQLite task store without HTTP',
  command: 'npm run bench:store',
  targets: [
    ['≥ 50,000 tasks/s journaled, run and completed', `${result.held.tasksPerSecond.toLocaleString('en-US')} tasks/s held, ${result.enqueued.tasksPerSecond.toLocaleString('en-US')} enqueued`, result.held.tasksPerSecond >= 50_000],
    ['memory per pending task', pendingFigure(result.pending), null],
  ],
  lines: [
    `${TASKS.toLocaleString('en-US')} tasks in batches of ${BATCH}, each step one transaction on a file in a fresh temp directory; the median of ${RUNS} runs;`,
    'by the clock, and per second of the process\'s CPU time (bench/store.ts says how each variant goes).',
    '',
    '| variant | tasks/s | tasks per CPU second |',
    '| --- | ---: | ---: |',
    ...rows.map(([label, rate]) => `| ${label} | ${rate.tasksPerSecond.toLocaleString('en-US')} | ${rate.tasksPerCpuSecond.toLocaleString('en-US')} |`),
  ],
});
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
else {
  console.log(`sqlite store, ${TASKS} tasks in batches of ${BATCH} (${result.node}): tasks/s by the clock, and per CPU second`);
  for (const [label, { tasksPerSecond, tasksPerCpuSecond }] of rows) {
    console.log(`  ${label.padEnd(52)} ${String(tasksPerSecond).padStart(7)} ${String(tasksPerCpuSecond).padStart(7)}`);
  }
  console.log(`wrote ${file}`);
}
