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
 * Usage: npm run bench:bullmq [-- --requests 20000 --tasks 100000]
 * Needs redis-server (Debian's package) and h2load or autocannon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, runWorker, serve, task } from 'coda-http';
import { bullmqStore } from 'coda-http/bullmq';
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
}

async function start(which: string, env: Record<string, string> = {}): Promise<Child> {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', self, which], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  });
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  return { child, first };
}

/** Stops a worker and returns how many tasks it ran. */
async function ranBy({ child }: Child): Promise<number> {
  const lines = createInterface({ input: child.stdout! });
  child.kill('SIGTERM');
  const [line] = (await once(lines, 'line')) as [string];
  return Number(line.split(' ')[1]);
}

/** Waits until the queue has nothing waiting, delayed or active (polled: the bench, not a test). */
async function drained(redis: Redis, prefix: string, name: string): Promise<void> {
  for (;;) {
    const [wait, delayed, active] = await Promise.all([
      redis.llen(`${prefix}:${name}:wait`), redis.zcard(`${prefix}:${name}:delayed`), redis.llen(`${prefix}:${name}:active`),
    ]);
    if (wait + delayed + active === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { requests: { type: 'string', default: '20000' }, tasks: { type: 'string', default: '100000' }, connections: { type: 'string', default: '50' } } });
  const requests = Number(values.requests);
  const tasks = Number(values.tasks);
  const redisServer = await startRedis();
  process.env.REDIS_PORT = String(redisServer.port);
  const redis = new Redis({ port: redisServer.port });
  const loader = pickLoader(process.env.CODA_BENCH_LOADER);
  const results: Record<string, unknown> = { node: process.version, loader, requests, connections: Number(values.connections) };
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
      results[framework] = { rps: Math.round(load.rps), p50: load.p50, p99: load.p99, statuses: load.statuses, errors: load.errors, tasksExpected: total, tasksRun: taskRuns };
      if (taskRuns !== total) throw new Error(`${framework}: ${total} tasks registered by 2xx responses, ${taskRuns} ran`);
      console.error(framework, results[framework]);
    }
    const coda = results.coda as { rps: number };
    const fastify = results.fastify as { rps: number };
    results.ratio = Number((coda.rps / fastify.rps).toFixed(2));

    // Without HTTP: enqueue in bursts of 1,000 (one pipeline per turn), a worker process runs them.
    await redis.flushall();
    const before = await usedMemory(redis);
    const workerProcess = await start('coda-worker', { PREFIX: 'bench-tasks' });
    const app = createApp({ tasks: { definitions: [record], store: bullmqStore({ connection: { port: redisServer.port }, prefix: 'bench-tasks' }), run: false }, logger: pino({ level: 'silent' }) });
    const memory: [number, number][] = [[0, before]];
    const started = performance.now();
    for (let sent = 0; sent < tasks;) {
      const burst = Math.min(1000, tasks - sent);
      await Promise.all(Array.from({ length: burst }, (_, i) => app.tasks.enqueue(record, { n: sent + i })));
      sent += burst;
      if (sent % Math.max(1000, Math.floor(tasks / 10)) === 0) memory.push([sent, await usedMemory(redis)]);
    }
    await drained(redis, 'bench-tasks', 'record');
    const seconds = (performance.now() - started) / 1000;
    const tasksRun = await ranBy(workerProcess);
    if (tasksRun !== tasks) throw new Error(`without HTTP: ${tasks} enqueued, ${tasksRun} ran`);
    memory.push([tasks, await usedMemory(redis)]);
    results.withoutHttp = { tasks, seconds: Number(seconds.toFixed(2)), tasksPerSecond: Math.round(tasks / seconds), tasksRun };
    results.usedMemory = memory.map(([after, bytes]) => ({ tasks: after, bytes }));
    await app.tasks.close(performance.now());
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
  console.log(JSON.stringify(results, null, 2));
}

const roles: Record<string, () => Promise<void>> = { 'coda-web': codaWeb, 'coda-worker': codaWorker, 'fastify-web': fastifyWeb, 'bull-worker': bullWorker };
await (role !== undefined && role in roles ? roles[role]!() : main());
