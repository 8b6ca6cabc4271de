/**
 * The adapters against their frameworks: for Express, Fastify, Koa and Hono,
 * the `stack` scenario (servers/<framework>.ts, the after task counted by the
 * framework's idiomatic hook, by hand) against the same app with Coda's
 * adapter (servers/<framework>-coda.ts, the task registered with `after()`).
 * Rounds are interleaved (hand, adapter, adapter, hand, ...) and each ratio
 * is the median of the per-round ratios, so a noisy neighbour moves both
 * sides of a round alike. Two ratios: req/s, and the server's CPU time per
 * request (read from /proc), which other processes on a shared machine
 * disturb much less. Answers and counters are checked before and after every
 * load, as in run.ts. Writes its part of bench/RESULTS.md (parts.ts).
 *
 *   npm run bench:adapters -- --rounds=7 --duration=3 --frameworks=express,fastify
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { checkAnswers, checkCounts, stackHeaders, type Target } from './check.js';
import { pickLoader, runLoad, type LoadResult } from './load.js';
import { writePart } from './parts.js';
import { median } from './report.js';
import type { Framework } from './shared.js';
import { startServer, stopServer, type ServerProcess } from './spawn.js';

const FRAMEWORKS = ['express', 'fastify', 'koa', 'hono'] as const;
type Adapted = (typeof FRAMEWORKS)[number];
const SCENARIO = 'stack';

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  return arg === undefined ? (process.env[`BENCH_${name.toUpperCase()}`] ?? fallback) : arg.slice(prefix.length);
}

function count(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
  return value;
}

for (const arg of process.argv.slice(2)) {
  if (!/^--(rounds|duration|warmup|connections|frameworks)=/.test(arg)) throw new Error(`unknown argument ${arg}; known: --rounds --duration --warmup --connections --frameworks`);
}
const rounds = count('rounds', 7);
const duration = count('duration', 3);
const warmup = count('warmup', 2);
const connections = count('connections', 50);
const frameworks = option('frameworks', FRAMEWORKS.join(',')).split(',') as Adapted[];
for (const framework of frameworks) if (!FRAMEWORKS.includes(framework)) throw new Error(`--frameworks: unknown ${framework}; known: ${FRAMEWORKS.join(', ')}`);
const loader = pickLoader(undefined);
const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pin = canPin ? { server: '0', loader: '1' } : undefined;
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A load's result, with the server's CPU time per request in µs (undefined without /proc). */
interface Run extends LoadResult {
  cpu: number | undefined;
}

interface Side extends Target, ServerProcess {
  rate: number;
  runs: Run[];
}

const TICK_US = 10_000;

/** User and system CPU time of process `pid` so far, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

async function start(file: string, name: string): Promise<Side> {
  // The adapter servers are servers/<framework>-coda.js; spawn.ts names a server by its file.
  const server = await startServer(file as Framework, SCENARIO, pin?.server);
  const side: Side = { ...server, name, scenario: SCENARIO, sent: 0, rate: 0, runs: [] };
  const problems = [...(await checkAnswers(side)), ...(await checkCounts(side))];
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return side;
}

/** About `seconds` of load at the side's last rate; the statuses and counters checked afterwards. */
async function load(side: Side, seconds: number): Promise<Run> {
  const amount = Math.max(connections * 20, Math.round(side.rate * seconds));
  const before = cpuTicks(side.child.pid);
  const result = await runLoad(loader, { url: `http://127.0.0.1:${side.port}/users/42`, connections: Math.min(connections, amount), amount, headers: stackHeaders('42') }, pin?.loader);
  side.sent += result.requests;
  const problems = await checkCounts(side);
  if (result.requests !== amount || result.errors > 0 || Object.keys(result.statuses).some((status) => status !== '200')) {
    problems.push(`${side.name}: ${result.requests} answers for ${amount} requests, ${result.errors} errors, statuses ${JSON.stringify(result.statuses)}`);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  side.rate = result.rps;
  const after = cpuTicks(side.child.pid);
  return { ...result, cpu: before === undefined || after === undefined ? undefined : ((after - before) * TICK_US) / result.requests };
}

interface Summary {
  rps: number;
  p99: number;
  cpu: number;
}

interface Row {
  framework: Adapted;
  hand: Summary;
  adapter: Summary;
  /** Per round: adapter req/s over hand req/s. */
  ratios: number[];
  /** Per round: hand CPU per request over adapter CPU per request (above 1: the adapter costs less). */
  cpuRatios: number[];
}

async function compare(framework: Adapted): Promise<Row> {
  const hand = await start(framework, `${framework} by hand`);
  const adapter = await start(`${framework}-coda`, `${framework} + coda-http/${framework}`);
  try {
    for (const side of [hand, adapter]) {
      await load(side, 0);
      await load(side, warmup);
    }
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Alternate which side goes first, so neither always follows the other's garbage.
      const order = round % 2 === 1 ? [hand, adapter] : [adapter, hand];
      for (const side of order) side.runs.push(await load(side, duration));
      const [byHand, adapted] = [hand.runs.at(-1)!, adapter.runs.at(-1)!];
      ratios.push(adapted.rps / byHand.rps);
      cpuRatios.push((byHand.cpu ?? NaN) / (adapted.cpu ?? NaN));
      log(`${framework.padEnd(8)} round ${round}/${rounds}: by hand ${fmt(byHand.rps).padStart(7)} req/s ${fmt(byHand.cpu ?? NaN, 1)} µs CPU/req, `
        + `adapter ${fmt(adapted.rps).padStart(7)} req/s ${fmt(adapted.cpu ?? NaN, 1)} µs CPU/req: ${fmt(ratios.at(-1)!, 3)}x req/s, ${fmt(cpuRatios.at(-1)!, 3)}x CPU`);
    }
    const summary = (side: Side): Summary => ({
      rps: median(side.runs.map((r) => r.rps)), p99: median(side.runs.map((r) => r.p99)), cpu: median(side.runs.map((r) => r.cpu ?? NaN)),
    });
    return { framework, hand: summary(hand), adapter: summary(adapter), ratios, cpuRatios };
  } finally {
    await Promise.all([stopServer(hand), stopServer(adapter)]);
  }
}

const HOOKS: Record<Adapted, string> = {
  express: "`res.on('finish')`",
  fastify: '`onResponse` hook',
  koa: "`ctx.res.on('finish')`",
  hono: "`c.env.outgoing.on('finish')`",
};

log(`Node ${process.version}, loader ${loader}, ${pin ? `server on CPU ${pin.server}, loader on CPU ${pin.loader}` : 'not pinned'}; ${rounds} rounds of ${duration} s, ${connections} connections`);
const rows: Row[] = [];
for (const framework of frameworks) rows.push(await compare(framework));

const command = `npm run bench:adapters -- --rounds=${rounds} --duration=${duration} --warmup=${warmup} --connections=${connections} --frameworks=${frameworks.join(',')}`;
const table = [
  '| framework | hook by hand | req/s by hand | req/s with the adapter | **req/s ratio** | CPU/req by hand | CPU/req with the adapter | **CPU ratio** | p99 by hand | p99 with the adapter | per-round req/s ratios | per-round CPU ratios |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ...rows.map((row) => `| ${row.framework} | ${HOOKS[row.framework]} | ${fmt(row.hand.rps)} | ${fmt(row.adapter.rps)} | **${fmt(median(row.ratios), 3)}x** | ${fmt(row.hand.cpu, 1)} µs | ${fmt(row.adapter.cpu, 1)} µs | **${fmt(median(row.cpuRatios), 3)}x** | ${fmt(row.hand.p99, 2)} ms | ${fmt(row.adapter.p99, 2)} ms | ${row.ratios.map((r) => fmt(r, 2)).join(', ')} | ${row.cpuRatios.map((r) => fmt(r, 2)).join(', ')} |`),
];
const file = writePart('adapters', {
  title: 'Adapters against their frameworks',
  command,
  targets: rows.map((row) => [
    `${row.framework} with the adapter ≥ 0.95× by hand`,
    `${fmt(median(row.ratios), 3)}× (${fmt(median(row.cpuRatios), 3)}× by CPU per request)`,
    median(row.ratios) >= 0.95,
  ]),
  lines: [
    `Loader ${loader}, ${pin ? 'server and loader pinned to one core each' : 'not pinned'}. The \`stack\` scenario: five middlewares, one route, one`,
    'after-response task per request. "By hand" is bench/servers/<framework>.ts, counting with the framework\'s own hook;',
    '"adapter" is bench/servers/<framework>-coda.ts, the same app with Coda\'s adapter mounted first and the task',
    'registered with `after()`. Rounds are interleaved (the order alternates); each ratio is the median of the',
    'per-round ratios (adapter over by hand for req/s, by hand over adapter for CPU per request: 1.0 is parity).',
    '',
    ...table,
  ],
});
log(table.join('\n'));
log(`wrote ${file}; \`npm run bench:report\` puts it in bench/RESULTS.md`);
