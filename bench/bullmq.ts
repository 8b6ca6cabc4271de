/**
 * Durable tasks on BullMQ and Redis, measured (results: bench/bullmq-results.md).
 *
 * 1. The `durable` scenario over HTTP: a route that registers one durable task
 *    per response, a worker in another process. Coda (`after(task, payload)`,
 *    journaled before the first byte, `runWorker()` on `bullmqStore()`)
 *    against Fastify doing it by hand (`await queue.add()` in the handler, a
 *    BullMQ `Worker` in another process). Same Redis, same load tool as
 *    bench/load.ts, and every task run is checked against the 2xx responses.
 * 2. Tasks per second through Redis without HTTP: `app.tasks.enqueue()` in
 *    bursts, run by a worker process, until all have completed.
 * 3. Redis memory (`INFO memory` used_memory) as tasks go through.
 *
 * `--count` measures the `durable` scenario by counting instead (wall-clock
 * req/s mean little on a shared machine): per request, Redis commands by type
 * (`INFO commandstats`), reads Redis processed (`total_reads_processed`: the
 * round trips it received), socket writes each process sent to Redis, and the
 * CPU time of the web process, the worker and redis-server (/proc/<pid>/stat),
 * as deltas over `--requests` after a warm-up, every task run.
 *
 * 2 and 3 run for Coda and for BullMQ alone (`Queue.addBulk()`, a `Worker`),
 * with Redis commands and CPU per task. `--tasks 1000000` is the issue's
 * million: about six minutes on the 2-core machine (bench/bullmq-results.md).
 *
 * Usage: npm run bench:bullmq [-- --requests 20000 --tasks 100000] [--count]
 * Needs redis-server (Debian's package) and h2load or autocannon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, runWorker, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
import { writePart } from './parts.js';
import { pickLoader, runLoad } from './load.js';
import { startRedis } from '../test/bullmq/redis-server.js';

const self = fileURLToPath(import.meta.url);
const role = process.argv[2];
const port = Number(process.env.REDIS_PORT);
const connection = { host: '127.0.0.1', port };

const record = task('record', () => {
  ran++;
});
let ran = 0;

/** Socket writes this process sent to Redis (`--count`): each is one round trip's request, a pipeline or a single command. */
let redisWrites = 0;
let redisBytes = 0;
if (process.env.CODA_BENCH_COUNT === '1') {
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: Parameters<typeof write>) {
    if (this.remotePort === port) {
      redisWrites++;
      redisBytes += typeof args[0] === 'string' ? Buffer.byteLength(args[0]) : (args[0] as Uint8Array).byteLength;
    }
    return write.apply(this, args);
  } as typeof write;
  // Asked (SIGUSR2), prints its counts so far: the parent reads them between phases.
  process.on('SIGUSR2', () => process.stdout.write(`count ${ran} ${redisWrites} ${redisBytes}\n`));
}

/** A worker that prints how many tasks it ran when told to stop (SIGTERM). */
function reportOnSigterm(close: () => Promise<unknown>): void {
  process.once('SIGTERM', () => {
    void close().then(() => {
      process.stdout.write(`ran ${ran}\n`);
      process.exit(0);
    });
  });
}

async function codaWeb(): Promise<void> {
  let n = 0;
  const app = createApp({
    routes: [get('/work', () => {
      after(record, { n: n++ });
      return new HttpResponse('accepted');
    })],
    tasks: { definitions: [record], store: bullmqStore({ connection, prefix: 'bench-coda' }), run: false },
    logger: pino({ level: 'silent' }),
  });
  const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
  process.stdout.write(`listening ${server.port}\n`);
}

async function codaWorker(): Promise<void> {
  const worker = await runWorker({
    definitions: [record], store: bullmqStore({ connection, prefix: process.env.PREFIX ?? 'bench-coda' }),
    concurrency: 16, pollMs: 20, handleSignals: false, logger: pino({ level: 'silent' }),
  });
  reportOnSigterm(() => worker.close());
  process.stdout.write('ready\n');
}

async function fastifyWeb(): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const queue = new Queue('record', { connection, prefix: 'bench-fastify', defaultJobOptions: { removeOnComplete: { count: 1000 }, attempts: 3 } });
  let n = 0;
  const app = Fastify();
  app.get('/work', async () => {
    await queue.add('record', { n: n++ });
    return 'accepted';
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);
}

async function bullWorker(): Promise<void> {
  const worker = new Worker('record', async () => {
    ran++;
  }, { connection, prefix: 'bench-fastify', concurrency: 16 });
  await worker.waitUntilReady();
  reportOnSigterm(() => worker.close());
  process.stdout.write('ready\n');
}

interface Child {
  child: ChildProcess;
  first: string;
  /** The next line it prints. */
  line: () => Promise<string>;
}

async function start(which: string, env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', self, which], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error(`${which} exited`);
    return next.value;
  };
  return { child, first: await line(), line };
}

/** Stops a worker and returns how many tasks it ran. */
async function ranBy({ child, line }: Child): Promise<number> {
  child.kill('SIGTERM');
  return Number((await line()).split(' ')[1]);
}

/** Waits until the queue has nothing held (Coda's holds), waiting, delayed or active (polled: the bench, not a test). */
async function drained(redis: Redis, prefix: string, name: string): Promise<void> {
  for (;;) {
    const [held, wait, delayed, active] = await Promise.all([
      redis.zcard(`${prefix}:${name}:coda-holds`), redis.llen(`${prefix}:${name}:wait`), redis.zcard(`${prefix}:${name}:delayed`), redis.llen(`${prefix}:${name}:active`),
    ]);
    if (held + wait + delayed + active === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** CPU milliseconds a process has used so far (user + system, /proc/<pid>/stat). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A child's counts so far: tasks it ran, socket writes it sent to Redis and their bytes. */
async function countsOf({ child, line }: Child): Promise<{ ran: number; writes: number; bytes: number }> {
  child.kill('SIGUSR2');
  const [, ran, writes, bytes] = (await line()).split(' ');
  return { ran: Number(ran), writes: Number(writes), bytes: Number(bytes) };
}

/** Redis's counters: commands by type (INFO itself left out), reads processed, its pid. */
async function redisCounts(redis: Redis): Promise<{ commands: Map<string, number>; reads: number; pid: number }> {
  const stats = await redis.info('all');
  const commands = new Map<string, number>();
  for (const [, name, calls] of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) if (name !== 'info') commands.set(name!, Number(calls));
  return { commands, reads: Number(/total_reads_processed:(\d+)/.exec(stats)![1]), pid: Number(/process_id:(\d+)/.exec(stats)![1]) };
}

/**
 * The `durable` scenario counted (`--count`): after a warm-up, `requests`
 * requests, then until the worker has run every task; what each process and
 * Redis did meanwhile, per request.
 */
async function count(redis: Redis, loader: ReturnType<typeof pickLoader>, requests: number, connections: number): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  for (const [framework, webRole, workerRole] of [['coda', 'coda-web', 'coda-worker'], ['fastify', 'fastify-web', 'bull-worker']] as const) {
    const web = await start(webRole, { CODA_BENCH_COUNT: '1' });
    const worker = await start(workerRole, { CODA_BENCH_COUNT: '1' });
    const url = `http://127.0.0.1:${web.first.split(' ')[1]}/work`;
    const warmup = Math.min(2000, requests);
    await runLoad(loader, { url, connections, amount: warmup, headers: {} }, undefined);
    const ranAll = async (expected: number): Promise<{ ran: number; writes: number; bytes: number }> => {
      for (;;) {
        const counts = await countsOf(worker);
        if (counts.ran >= expected) return counts;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    // The warm-up's tasks all run first: nothing of it is counted.
    const workerBefore = await ranAll(warmup);
    const before = { redis: await redisCounts(redis), web: await countsOf(web), worker: workerBefore };
    const cpuBefore = [web.child.pid!, worker.child.pid!, before.redis.pid].map(cpuMs);
    const load = await runLoad(loader, { url, connections, amount: requests, headers: {} }, undefined);
    const accepted = load.statuses['200'] ?? 0;
    if (accepted !== requests) throw new Error(`${framework}: ${accepted} of ${requests} requests accepted`);
    const workerAfter = await ranAll(warmup + requests);
    const cpuAfter = [web.child.pid!, worker.child.pid!, before.redis.pid].map(cpuMs);
    const webAfter = await countsOf(web);
    const redisAfter = await redisCounts(redis);
    const perRequest = (n: number): number => Number((n / requests).toFixed(2));
    const commands: Record<string, number> = {};
    let total = 0;
    for (const [name, calls] of redisAfter.commands) {
      const delta = calls - (before.redis.commands.get(name) ?? 0);
      total += delta;
      if (delta > 0) commands[name] = perRequest(delta);
    }
    const cpu = cpuAfter.map((ms, i) => Math.round((ms - cpuBefore[i]!) * 1000 / requests));
    results[framework] = {
      tasksRun: workerAfter.ran - before.worker.ran,
      commandsPerRequest: perRequest(total),
      commands,
      redisReadsPerRequest: perRequest(redisAfter.reads - before.redis.reads),
      writesPerRequest: { web: perRequest(webAfter.writes - before.web.writes), worker: perRequest(workerAfter.writes - before.worker.writes) },
      bytesToRedisPerRequest: { web: Math.round(perRequest(webAfter.bytes - before.web.bytes)), worker: Math.round(perRequest(workerAfter.bytes - before.worker.bytes)) },
      cpuMsPer1000Requests: { web: cpu[0], worker: cpu[1], redis: cpu[2], total: cpu[0]! + cpu[1]! + cpu[2]! },
    };
    await ranBy(worker);
    web.child.kill('SIGKILL');
    console.error(framework, JSON.stringify(results[framework]));
  }
  return results;
}

interface TasksSide {
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  tasksRun: number;
  /** Per task: Redis commands (scripts' own included), and CPU µs of the worker, redis-server and this process (the enqueuing side). */
  perTask: { commands: number; workerCpuUs: number; redisCpuUs: number; enqueueCpuUs: number };
  /** Redis's used_memory as the tasks went in, and once every one had run (completed jobs pruned as configured: the newest 1,000 kept). */
  usedMemory: { tasks: number; bytes: number }[];
}

/**
 * `tasks` tasks without HTTP, enqueued in bursts of 1,000 and run by a worker
 * process: Coda's (`app.tasks.enqueue()`, `runWorker()`, `bullmqStore()`), or
 * BullMQ alone (`Queue.addBulk()`, a `Worker`, the same completed jobs kept).
 */
async function throughRedis(redis: Redis, port: number, tasks: number, side: 'coda' | 'bullmq'): Promise<TasksSide> {
  await redis.flushall();
  const prefix = side === 'coda' ? 'bench-tasks' : 'bench-fastify';
  const memory: [number, number][] = [[0, await usedMemory(redis)]];
  const worker = await start(side === 'coda' ? 'coda-worker' : 'bull-worker', { PREFIX: prefix });
  const app = side === 'coda'
    ? createApp({ tasks: { definitions: [record], store: bullmqStore({ connection: { port }, prefix }), run: false }, logger: pino({ level: 'silent' }) })
    : undefined;
  const queue = side === 'bullmq' ? new Queue('record', { connection: { port }, prefix, defaultJobOptions: { removeOnComplete: { count: 1000 }, attempts: 3 } }) : undefined;
  const before = await redisCounts(redis);
  const cpuBefore = [worker.child.pid!, before.pid].map(cpuMs);
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < tasks;) {
    const burst = Math.min(1000, tasks - sent);
    if (app !== undefined) await Promise.all(Array.from({ length: burst }, (_, i) => app.tasks.enqueue(record, { n: sent + i })));
    else await queue!.addBulk(Array.from({ length: burst }, (_, i) => ({ name: 'record', data: { n: sent + i } })));
    sent += burst;
    if (sent % Math.max(1000, Math.floor(tasks / 10)) === 0) memory.push([sent, await usedMemory(redis)]);
  }
  await drained(redis, prefix, 'record');
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  const cpuAfter = [worker.child.pid!, before.pid].map(cpuMs);
  const after = await redisCounts(redis);
  const tasksRun = await ranBy(worker);
  if (tasksRun !== tasks) throw new Error(`${side} without HTTP: ${tasks} enqueued, ${tasksRun} ran`);
  memory.push([tasks, await usedMemory(redis)]);
  await app?.tasks.close(performance.now());
  await queue?.close();
  let commands = 0;
  for (const [name, calls] of after.commands) commands += calls - (before.commands.get(name) ?? 0);
  const perTaskUs = (ms: number): number => Math.round((ms * 1000) / tasks);
  const result: TasksSide = {
    tasks, seconds: Number(seconds.toFixed(2)), tasksPerSecond: Math.round(tasks / seconds), tasksRun,
    perTask: {
      commands: Number((commands / tasks).toFixed(2)),
      workerCpuUs: perTaskUs(cpuAfter[0]! - cpuBefore[0]!), redisCpuUs: perTaskUs(cpuAfter[1]! - cpuBefore[1]!), enqueueCpuUs: perTaskUs((own.user + own.system) / 1000),
    },
    usedMemory: memory.map(([n, bytes]) => ({ tasks: n, bytes })),
  };
  console.error(`${side} without HTTP`, JSON.stringify(result));
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { requests: { type: 'string', default: '20000' }, tasks: { type: 'string', default: '100000' }, connections: { type: 'string', default: '50' }, count: { type: 'boolean', default: false } },
  });
  const requests = Number(values.requests);
  const tasks = Number(values.tasks);
  const redisServer = await startRedis();
  process.env.REDIS_PORT = String(redisServer.port);
  const redis = new Redis({ port: redisServer.port });
  const loader = pickLoader(process.env.CODA_BENCH_LOADER);
  if (values.count) {
    try {
      console.log(JSON.stringify({ node: process.version, loader, requests, connections: Number(values.connections), ...await count(redis, loader, requests, Number(values.connections)) }, null, 2));
    } finally {
      redis.disconnect();
      await redisServer.stop();
    }
    return;
  }
  const sides: Partial<Record<'coda' | 'fastify', LoadSide>> = {};
  let results: BullmqResults;
  try {
    for (const [framework, web, worker, prefix] of [['coda', 'coda-web', 'coda-worker', 'bench-coda'], ['fastify', 'fastify-web', 'bull-worker', 'bench-fastify']] as const) {
      const server = await start(web);
      const workerProcess = await start(worker);
      const url = `http://127.0.0.1:${server.first.split(' ')[1]}/work`;
      await runLoad(loader, { url, connections: Number(values.connections), amount: Math.min(2000, requests), headers: {} }, undefined);
      const load = await runLoad(loader, { url, connections: Number(values.connections), amount: requests, headers: {} }, undefined);
      await drained(redis, prefix, 'record');
      const accepted = load.statuses['200'] ?? 0;
      const total = accepted + Math.min(2000, requests);
      const taskRuns = await ranBy(workerProcess);
      server.child.kill('SIGKILL');
      sides[framework] = { rps: Math.round(load.rps), p50: load.p50, p99: load.p99, statuses: load.statuses, errors: load.errors, tasksExpected: total, tasksRun: taskRuns };
      if (taskRuns !== total) throw new Error(`${framework}: ${total} tasks registered by 2xx responses, ${taskRuns} ran`);
      console.error(framework, sides[framework]);
    }
    const coda = sides.coda!;
    const fastify = sides.fastify!;
    // Without HTTP, Coda then BullMQ alone, each on an emptied Redis.
    const withoutHttp = await throughRedis(redis, redisServer.port, tasks, 'coda');
    const bullmqAlone = await throughRedis(redis, redisServer.port, tasks, 'bullmq');
    results = {
      node: process.version, loader, requests, connections: Number(values.connections), coda, fastify,
      ratio: Number((coda.rps / fastify.rps).toFixed(2)), withoutHttp, bullmqAlone, usedMemory: withoutHttp.usedMemory,
    };
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
  console.log(JSON.stringify(results, null, 2));
  console.log(`wrote ${writeBullmqPart(results)}`);
}

interface LoadSide { rps: number; p50: number; p99: number; statuses: Record<string, number>; errors: number; tasksExpected: number; tasksRun: number }
interface BullmqResults {
  node: string;
  loader: string;
  requests: number;
  connections: number;
  coda: LoadSide;
  fastify: LoadSide;
  ratio: number;
  withoutHttp: TasksSide;
  bullmqAlone: TasksSide;
  usedMemory: { tasks: number; bytes: number }[];
}

/** A markdown table: the first column a label, the others figures (right-aligned). */
function table(columns: string[], rows: string[]): string[] {
  return [`| ${columns.join(' | ')} |`, `| --- |${' ---: |'.repeat(columns.length - 1)}`, ...rows];
}

function tasksRow(label: string, side: TasksSide): string {
  const { perTask } = side;
  const memory = side.usedMemory.at(-1)!;
  return `| ${label} | ${side.tasksPerSecond.toLocaleString('en-US')} | ${side.seconds} | ${perTask.commands} | ${perTask.workerCpuUs} | ${perTask.redisCpuUs} | ${perTask.enqueueCpuUs} | ${(memory.bytes / 2 ** 20).toFixed(1)} MB |`;
}

function writeBullmqPart(results: BullmqResults): string {
  const row = (label: string, side: LoadSide): string =>
    `| ${label} | ${side.rps.toLocaleString('en-US')} | ${side.p50.toFixed(2)} | ${side.p99.toFixed(2)} | ${side.tasksRun.toLocaleString('en-US')} / ${side.tasksExpected.toLocaleString('en-US')} |`;
  return writePart('bullmq', {
    title: 'Durable tasks on BullMQ',
    command: `npm run bench:bullmq -- --requests ${results.requests} --connections ${results.connections} --tasks ${results.withoutHttp.tasks}`,
    targets: [
      ['Coda ≥ 1.5× Fastify doing the same by hand, every task run', `${results.ratio.toFixed(2)}× (${results.coda.rps.toLocaleString('en-US')} against ${results.fastify.rps.toLocaleString('en-US')} req/s)`, results.ratio >= 1.5],
      ['without HTTP, enqueued and run by a worker process', `${results.withoutHttp.tasksPerSecond.toLocaleString('en-US')} tasks/s`, null],
    ],
    lines: [
      `Loader ${results.loader}, ${results.connections} connections, ${results.requests.toLocaleString('en-US')} requests after 2,000 of warm-up; a real redis-server,`,
      'the web process and a worker process each on their own (not pinned: four processes share the machine).',
      'Coda: `after(task)` in the view, journaled on BullMQ before the response; Fastify: `await queue.add()` in the handler, a BullMQ worker.',
      '',
      ...table(['server', 'req/s', 'p50 ms', 'p99 ms', 'tasks run / registered'], [row('Coda, bullmqStore', results.coda), row('Fastify, BullMQ by hand', results.fastify)]),
      '',
      `Without HTTP, ${results.withoutHttp.tasks.toLocaleString('en-US')} tasks enqueued in bursts of 1,000 and run by a worker process (concurrency 16), each side on an emptied Redis;`,
      'memory is Redis\'s used_memory once every task has run, completed jobs pruned to the newest 1,000; CPU from /proc, per task.',
      '',
      ...table(
        ['side', 'tasks/s', 'seconds', 'Redis commands / task', 'worker CPU µs / task', 'redis-server CPU µs / task', 'enqueuing CPU µs / task', 'Redis used_memory after'],
        [tasksRow('Coda: app.tasks.enqueue(), runWorker()', results.withoutHttp), tasksRow('BullMQ alone: Queue.addBulk(), a Worker', results.bullmqAlone)],
      ),
    ],
  });
}

const roles: Record<string, () => Promise<void>> = { 'coda-web': codaWeb, 'coda-worker': codaWorker, 'fastify-web': fastifyWeb, 'bull-worker': bullWorker };
await (role !== undefined && role in roles ? roles[role]!() : main());
