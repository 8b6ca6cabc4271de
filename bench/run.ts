/**
 * The benchmark driver: `npm run bench [-- --rounds=3 --duration=5 ...]`,
 * and `npm run bench:smoke` (correctness only, no timing). See bench/README.md.
 *
 * Per scenario it starts every server in a child process, checks their
 * answers and counters, warms each up, then loads them in rounds (A B C ...
 * A B C ...) from a second process, checking the counters after every load.
 * It writes bench/results-node<major>.json, then bench/RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAnswers, checkCounts, stackHeaders, type Target } from './check.js';
import { pickLoader, runLoad, type LoadResult, type Loader } from './load.js';
import { machine } from './parts.js';
import { median, pairedRatio, writeReport, type Results, type Summary } from './report.js';
import type { SchedulerResult } from './scheduler.js';
import { ERROR_EVERY, FRAMEWORKS, SCENARIOS, type Framework, type Scenario } from './shared.js';
import { startServer, stopServer, type ServerProcess } from './spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, '..', '..', 'bench');

interface Options {
  rounds: number;
  /** Seconds per timed load. */
  duration: number;
  /** Seconds of warm-up per server. */
  warmup: number;
  connections: number;
  scenarios: Scenario[];
  servers: Framework[];
  smoke: boolean;
  loader: Loader;
  /** taskset CPU lists for the server and the loader, when pinning. */
  pin: { server: string; loader: string } | undefined;
  scheduler: boolean;
  out: string;
  /** Extra node flags for every server, e.g. `--node-flags=--max-semi-space-size=32`. */
  nodeFlags: string[];
}

/** `--name=value` on the command line, else BENCH_NAME in the environment. */
function option(name: string): string | undefined {
  for (const arg of process.argv.slice(2)) {
    if (arg === `--${name}`) return 'true';
    if (arg === `--no-${name}`) return 'false';
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return process.env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`];
}

function numberOption(name: string, fallback: number): number {
  const value = Number(option(name) ?? fallback);
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
  return value;
}

function listOption<T extends string>(name: string, all: readonly T[]): T[] {
  const value = option(name);
  if (value === undefined) return [...all];
  const list = value.split(',').filter(Boolean);
  for (const item of list) if (!(all as readonly string[]).includes(item)) throw new Error(`--${name}: unknown ${item}; known: ${all.join(', ')}`);
  return list as T[];
}

function parseOptions(): Options {
  const known = ['rounds', 'duration', 'warmup', 'connections', 'scenarios', 'servers', 'smoke', 'loader', 'pin', 'scheduler', 'out', 'node-flags'];
  for (const arg of process.argv.slice(2)) {
    const name = /^--(?:no-)?([\w-]+)/.exec(arg)?.[1];
    if (name === undefined || !known.includes(name)) throw new Error(`unknown argument ${arg}; known: ${known.map((k) => `--${k}`).join(' ')}`);
  }
  const smoke = option('smoke') === 'true';
  const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  const major = process.versions.node.split('.')[0];
  return {
    rounds: numberOption('rounds', 10),
    duration: numberOption('duration', 2),
    warmup: numberOption('warmup', 3),
    connections: numberOption('connections', 50),
    scenarios: listOption('scenarios', SCENARIOS),
    servers: listOption('servers', FRAMEWORKS),
    smoke,
    loader: pickLoader(option('loader')),
    pin: canPin && option('pin') !== 'false' ? { server: '0', loader: '1' } : undefined,
    scheduler: !smoke && option('scheduler') !== 'false',
    out: option('out') ?? join(benchDir, `results-node${major}.json`),
    nodeFlags: (option('node-flags') ?? '').split(' ').filter(Boolean),
  };
}

/** One server of a scenario's lineup; `key` names it in the results. */
interface Entry {
  framework: Framework;
  scenario: Scenario;
  key: string;
}

/**
 * The servers a scenario runs. `durable` is Coda's alone: it runs against
 * Coda's own `stack` (key `coda-stack`, its baseline) in the same rounds.
 */
function lineup(scenario: Scenario, servers: Framework[]): Entry[] {
  if (scenario !== 'durable') return servers.map((framework) => ({ framework, scenario, key: framework }));
  if (!servers.includes('coda')) return [];
  return [{ framework: 'coda', scenario: 'stack', key: 'coda-stack' }, { framework: 'coda', scenario, key: 'coda' }];
}

interface Running extends Target, ServerProcess {
  key: string;
  /** Latest throughput, to size the next load to about the wanted duration. */
  rate: number;
  runs: Run[];
  failed: boolean;
}

interface Run extends LoadResult {
  /** CPU used by other processes on the machine during the run, in cores. */
  others: number | undefined;
  /** CPU the server process used per request during the run, in µs. */
  cpuUs: number | undefined;
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** Busy ticks of the whole machine, of one process, and of this process with its reaped children (the loader). */
function cpuTicks(pid: number | undefined): { machine: number; server: number; self: number } | undefined {
  try {
    const all = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const busy = all[0]! + all[1]! + all[2]! + all[5]! + all[6]! + all[7]!; // user nice system irq softirq steal
    const fields = (path: string): number[] => readFileSync(path, 'utf8').replace(/^.*\) /, '').split(' ').map(Number);
    const server = fields(`/proc/${pid}/stat`);
    const self = fields('/proc/self/stat');
    // After the ") ": utime is field 11, stime 12, cutime 13, cstime 14 (0-based).
    return { machine: busy, server: server[11]! + server[12]!, self: self[11]! + self[12]! + self[13]! + self[14]! };
  } catch {
    return undefined;
  }
}

const TICKS_PER_SECOND = 100;
/** A run during which other processes used more than this many cores is run again (twice at most). */
const NOISY = 0.25;

async function load(server: Running, amount: number, options: Options): Promise<Run> {
  const headers = server.scenario === 'hello' ? {} : stackHeaders('42');
  const path = server.scenario === 'hello' ? '/' : '/users/42';
  let best: Run | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = cpuTicks(server.child.pid);
    const started = performance.now();
    const result = await runLoad(options.loader, { url: `http://127.0.0.1:${server.port}${path}`, connections: Math.min(options.connections, amount), amount, headers }, options.pin?.loader);
    const after = cpuTicks(server.child.pid);
    server.sent += result.requests;
    const seconds = (performance.now() - started) / 1000;
    const others = before && after
      ? Math.max(0, (after.machine - before.machine) - (after.server - before.server) - (after.self - before.self)) / TICKS_PER_SECOND / seconds
      : undefined;
    const cpuUs = before && after && result.requests > 0
      ? ((after.server - before.server) / TICKS_PER_SECOND) * 1e6 / result.requests
      : undefined;
    const run = { ...result, others, cpuUs };
    if (best === undefined || (others ?? 0) < (best.others ?? 0)) best = run;
    if (options.smoke || others === undefined || others <= NOISY) break;
    log(`  (other processes used ${others.toFixed(2)} cores during that run: running it again)`);
  }
  return best!;
}

/** What a load's statuses should be: all 200, or in `errors` one 500 in ten. */
function checkStatuses(server: Running, amount: number, run: Run): string[] {
  const problems: string[] = [];
  if (run.errors > 0) problems.push(`${run.errors} connection errors or timeouts`);
  if (run.requests !== amount) problems.push(`${run.requests} responses for ${amount} requests`);
  const { 200: ok = 0, 500: failed = 0, ...others } = run.statuses;
  if (Object.keys(others).length > 0) problems.push(`unexpected statuses ${JSON.stringify(others)}`);
  const expectedFailures = server.scenario === 'errors' ? amount / ERROR_EVERY : 0;
  if (Math.abs(failed - expectedFailures) >= 1) problems.push(`${failed} responses with 500 (and ${ok} with 200), expected ${expectedFailures}`);
  return problems.map((problem) => `${server.name}: ${problem}`);
}

async function verifiedLoad(server: Running, seconds: number, options: Options, problems: string[]): Promise<Run> {
  const amount = Math.max(options.connections * 20, Math.round(server.rate * seconds));
  const run = await load(server, amount, options);
  const found = [...checkStatuses(server, amount, run), ...(await checkCounts(server))];
  if (found.length > 0) {
    problems.push(...found);
    server.failed = true;
  }
  return run;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function benchScenario(scenario: Scenario, options: Options, problems: string[]): Promise<Record<string, Summary>> {
  const servers: Running[] = [];
  try {
    for (const { framework, scenario: serverScenario, key } of lineup(scenario, options.servers)) {
      const server = await startServer(framework, serverScenario, options.pin?.server, options.nodeFlags);
      servers.push({ ...server, key, name: `${framework}/${serverScenario}`, sent: 0, rate: 0, runs: [], failed: false });
    }
    for (const server of servers) {
      const found = [...(await checkAnswers(server)), ...(await checkCounts(server))];
      if (found.length > 0) {
        problems.push(...found);
        server.failed = true;
      }
    }
    if (options.smoke) {
      for (const server of servers.filter((s) => !s.failed)) await verifiedLoad(server, 0, { ...options, connections: 10 }, problems);
      log(`${scenario}: ${servers.map((s) => `${s.key} ${s.failed ? 'FAILED' : 'ok'}`).join(', ')}`);
      return {};
    }
    for (const server of servers.filter((s) => !s.failed)) {
      server.rate = (await verifiedLoad(server, 0, options, problems)).rps; // a first short load measures the rate
      server.rate = (await verifiedLoad(server, options.warmup, options, problems)).rps;
    }
    for (let round = 1; round <= options.rounds; round++) {
      // A fresh order each round: no server always follows the same one, so a drift within a round favours none.
      for (const server of shuffled(servers.filter((s) => !s.failed))) {
        const run = await verifiedLoad(server, options.duration, options, problems);
        server.rate = run.rps;
        server.runs.push(run);
        log(`${scenario.padEnd(8)} ${server.key.padEnd(10)} round ${round}/${options.rounds}: ${fmt(run.rps).padStart(7)} req/s  p50 ${fmt(run.p50, 2)} ms  p99 ${fmt(run.p99, 2)} ms${run.others === undefined ? '' : `  (others ${fmt(run.others, 2)} cores)`}`);
      }
    }
  } finally {
    await Promise.all(servers.map(stopServer));
  }
  const summaries: Record<string, Summary> = {};
  const base = servers.find((s) => (s.key === 'node' || s.key === 'coda-stack') && !s.failed);
  const baseCpu = base === undefined ? null : cpuByRound(base.runs);
  for (const server of servers) {
    if (server.failed || server.runs.length === 0) continue;
    const cpu = cpuByRound(server.runs);
    summaries[server.key] = {
      rps: median(server.runs.map((r) => r.rps)),
      p50: median(server.runs.map((r) => r.p50)),
      p99: median(server.runs.map((r) => r.p99)),
      ratio: base === undefined ? null : pairedRatio(server.runs.map((r) => r.rps), base.runs.map((r) => r.rps)),
      cpuUs: cpu === null ? null : median(cpu),
      cpuRatio: baseCpu === null || cpu === null ? null : pairedRatio(baseCpu, cpu),
      rounds: server.runs.map((r) => Math.round(r.rps)),
      others: server.runs.map((r) => (r.others === undefined ? null : Math.round(r.others * 100) / 100)),
    };
  }
  return summaries;
}

/** The server's CPU per request in each round, if /proc told it for every round. */
function cpuByRound(runs: Run[]): number[] | null {
  const values = runs.map((r) => r.cpuUs);
  return values.every((v) => v !== undefined) ? (values as number[]) : null;
}

/** `items` in a random order (Fisher-Yates). */
function shuffled<T>(items: T[]): T[] {
  const order = [...items];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function runScheduler(): SchedulerResult {
  const child = spawnSync(process.execPath, ['--expose-gc', join(here, 'scheduler.js'), '--json'], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`scheduler benchmark failed:\n${child.stderr}`);
  return JSON.parse(child.stdout) as SchedulerResult;
}

const options = parseOptions();
log(`Node ${process.version}, loader ${options.loader}, ${options.pin ? `server on CPU ${options.pin.server}, loader on CPU ${options.pin.loader}` : 'not pinned'}`);
if (!options.smoke) {
  const each = options.warmup + options.rounds * options.duration;
  log(`${options.scenarios.length} scenarios × ${options.servers.length} servers × (${options.warmup} s warm-up + ${options.rounds} × ${options.duration} s): about ${Math.ceil((options.scenarios.length * options.servers.length * (each + 2)) / 60)} min`);
}
const problems: string[] = [];
const results: Results = {
  node: process.version,
  date: new Date().toISOString(),
  machine: machine(),
  options: { rounds: options.rounds, duration: options.duration, warmup: options.warmup, connections: options.connections, loader: options.loader, pinned: options.pin !== undefined },
  scenarios: {},
  problems,
};
for (const scenario of options.scenarios) results.scenarios[scenario] = await benchScenario(scenario, options, problems);
for (const problem of problems) log(`MISMATCH ${problem}`);
if (!options.smoke) {
  if (options.scheduler) results.scheduler = runScheduler();
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${options.out}`);
  const files = writeReport(benchDir);
  log(`wrote ${files.join(', ')}`);
}
if (problems.length > 0) {
  log(`${problems.length} mismatch(es)`);
  process.exit(1);
}
log(options.smoke ? 'smoke: every server answered correctly and ran one after task per response' : 'done');
