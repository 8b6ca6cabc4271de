/**
 * The after-response scheduler without HTTP: `node --expose-gc
 * dist-bench/bench/scheduler.js [--json]` (or `npm run bench:scheduler`).
 *
 * Each task costs what a request whose view calls `after()` once costs the
 * scheduler: its exchange and request, the task registered in the request's
 * async context (as the pipeline runs the view) with that context kept for
 * it, the response finished with the transports' Outcome, submitted, started
 * on a later turn, run, counted.
 */
import { pino } from 'pino';
import { after, inJob } from '../src/after/context.js';
import { Exchange, type ExchangeHost } from '../src/after/exchange.js';
import { AfterScheduler } from '../src/after/scheduler.js';
import { HttpResponse, type AfterTask } from '../src/http/response.js';
import { outcomeOf } from '../src/transport/outcome.js';

export interface SchedulerResult {
  node: string;
  /** Synchronous tasks submitted at once, then run: tasks per second (median of 5 runs of 1,000,000). */
  syncTasksPerSecond: number;
  /** The same with tasks that return a resolved promise (median of 5 runs of 200,000). */
  asyncTasksPerSecond: number;
  pending: number;
  /** Heap per pending task: its exchange (with its HttpRequest, no socket behind it), Outcome, entries array, entry with its async context, queue slot; one task function and one response for all. */
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
    payloadLimit: 0,
    registerTask: () => Promise.reject(new Error('no durable tasks here')),
  };
}

/** `after(task)` as a view calls it. */
const register = (task: AfterTask): void => after(task);

/**
 * A done exchange with one task, as a request whose view called `after()`
 * leaves it: its request, its response (shared unless `own`), the task
 * registered in the request's async context, its Outcome.
 */
function job(exchangeHost: ExchangeHost, response: HttpResponse, task: AfterTask): Exchange {
  const exchange = new Exchange(exchangeHost, { method: 'GET', url: '/users/42', headers: { host: '127.0.0.1' }, body: null });
  inJob(exchange, true, register, task);
  exchange.response = response;
  exchange.bytesSent = 11;
  exchange.finish(outcomeOf(exchange, true));
  return exchange;
}

async function tasksPerSecond(count: number, task: AfterTask, ran: () => number): Promise<number> {
  const scheduler = newScheduler();
  const exchangeHost = host(scheduler);
  const response = new HttpResponse('{"id":"42"}');
  const before = ran();
  const started = performance.now();
  for (let i = 0; i < count; i++) job(exchangeHost, response, task);
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
    job(exchangeHost, response, variant === 'shared' ? task : () => void ran++);
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
