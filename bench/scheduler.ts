/**
 * The after-response scheduler without HTTP: `node --expose-gc
 * dist-bench/bench/scheduler.js [--json]` (or `npm run bench:scheduler`).
 *
 * Each task costs what a response with one `response.after()` task costs
 * the scheduler once the response is done: its exchange, Outcome, entries
 * array and entry, submitted, started on a later turn, run in the request's
 * async context, counted.
 */
import { pino } from 'pino';
import { Exchange, type ExchangeHost } from '../src/after/exchange.js';
import { AfterScheduler } from '../src/after/scheduler.js';
import { HttpResponse, type AfterTask, type Outcome } from '../src/http/response.js';

export interface SchedulerResult {
  node: string;
  /** Synchronous tasks submitted at once, then run: tasks per second (median of 5 runs of 1,000,000). */
  syncTasksPerSecond: number;
  /** The same with tasks that return a resolved promise (median of 5 runs of 200,000). */
  asyncTasksPerSecond: number;
  pending: number;
  /** Heap per pending task: its exchange (with its HttpRequest, no socket behind it), Outcome, entries array, entry, queue slot; one task function and one response for all. */
  bytesPerPendingTask: number;
  /** The same with a closure per task, as `response.after(() => ...)` makes. */
  bytesPerPendingTaskWithClosure: number;
  /** The same, each task also holding its own HttpResponse. */
  bytesPerPendingTaskWithExchange: number;
}

const logger = pino({ level: 'silent' });
const newScheduler = (): AfterScheduler => new AfterScheduler({ maxPending: 10_000_000 }, logger);

function host(scheduler: AfterScheduler): ExchangeHost {
  return {
    scheduler,
    requestOptions: { bodyLimit: 0, logger },
    finishedReceivers: () => undefined,
    finished: () => {},
    lost: () => {},
    registerTask: () => Promise.reject(new Error('no durable tasks here')),
  };
}

/**
 * A done exchange with one task, as a response with one `response.after()`
 * task leaves it: its request, its response (shared unless `own`), its
 * Outcome, its entries array.
 */
function job(exchangeHost: ExchangeHost, response: HttpResponse, task: AfterTask): Exchange {
  const exchange = new Exchange(exchangeHost, { method: 'GET', url: '/users/42', headers: { host: '127.0.0.1' }, body: null });
  exchange.response = response;
  exchange.entries = [{ task, options: undefined, scope: undefined }];
  const now = performance.now();
  const outcome: Outcome = { status: 200, completed: true, aborted: false, bytesSent: 11, startedAt: now, finishedAt: now };
  exchange.outcome = outcome;
  return exchange;
}

async function tasksPerSecond(count: number, task: AfterTask, ran: () => number): Promise<number> {
  const scheduler = newScheduler();
  const exchangeHost = host(scheduler);
  const response = new HttpResponse('{"id":"42"}');
  const before = ran();
  const started = performance.now();
  for (let i = 0; i < count; i++) scheduler.submit(job(exchangeHost, response, task), 0);
  await scheduler.whenIdle();
  const seconds = (performance.now() - started) / 1000;
  if (ran() - before !== count) throw new Error(`${ran() - before} tasks ran, ${count} submitted`);
  return count / seconds;
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** Heap per pending task with `count` pending; then lets them run and checks they all did. */
async function bytesPerPending(count: number, variant: 'shared' | 'closure' | 'exchange'): Promise<number> {
  const scheduler = newScheduler();
  const exchangeHost = host(scheduler);
  const shared = new HttpResponse('{"id":"42"}');
  let ran = 0;
  const task: AfterTask = () => void ran++;
  const before = heapAfterGc();
  for (let i = 0; i < count; i++) {
    const response = variant === 'exchange' ? new HttpResponse('{"id":"42"}') : shared;
    scheduler.submit(job(exchangeHost, response, variant === 'shared' ? task : () => void ran++), 0);
  }
  // Nothing has run yet: jobs start on a later turn of the event loop.
  const bytes = (heapAfterGc() - before) / count;
  if (scheduler.stats().pending !== count) throw new Error(`${scheduler.stats().pending} pending, expected ${count}`);
  await scheduler.whenIdle();
  if (ran !== count) throw new Error(`${ran} of ${count} pending tasks ran`);
  return bytes;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function measure(): Promise<SchedulerResult> {
  if (gc === undefined) throw new Error('run with node --expose-gc');
  let ran = 0;
  const count = (): number => ran;
  const sync: AfterTask = () => void ran++;
  const resolved = Promise.resolve();
  const async: AfterTask = () => {
    ran++;
    return resolved;
  };
  await tasksPerSecond(200_000, sync, count); // warm-up
  const syncRuns: number[] = [];
  for (let i = 0; i < 5; i++) syncRuns.push(await tasksPerSecond(1_000_000, sync, count));
  await tasksPerSecond(50_000, async, count);
  const asyncRuns: number[] = [];
  for (let i = 0; i < 5; i++) asyncRuns.push(await tasksPerSecond(200_000, async, count));
  const pending = 100_000;
  return {
    node: process.version,
    syncTasksPerSecond: Math.round(median(syncRuns)),
    asyncTasksPerSecond: Math.round(median(asyncRuns)),
    pending,
    bytesPerPendingTask: Math.round(await bytesPerPending(pending, 'shared')),
    bytesPerPendingTaskWithClosure: Math.round(await bytesPerPending(pending, 'closure')),
    bytesPerPendingTaskWithExchange: Math.round(await bytesPerPending(pending, 'exchange')),
  };
}

const result = await measure();
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const n = (v: number): string => v.toLocaleString('en-US');
  process.stdout.write(
    `Node ${result.node}\n` +
      `sync tasks:  ${n(result.syncTasksPerSecond)} per second\n` +
      `async tasks: ${n(result.asyncTasksPerSecond)} per second\n` +
      `${n(result.pending)} pending: ${n(result.bytesPerPendingTask)} bytes per task, ${n(result.bytesPerPendingTaskWithClosure)} with a closure each, ` +
      `${n(result.bytesPerPendingTaskWithExchange)} with its own request and response too\n`,
  );
}
