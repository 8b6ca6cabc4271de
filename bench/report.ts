/**
 * bench/RESULTS.md and one SVG bar chart per Node version, from every
 * bench/results-node*.json, then the other benchmarks' parts (parts.ts), plus
 * bench/profile-notes.md as written by hand.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readParts, type Machine, type TargetRow, type WrittenPart } from './parts.js';
import type { SchedulerResult } from './scheduler.js';
import { FRAMEWORKS, SCENARIOS, type Scenario } from './shared.js';

export interface Summary {
  /** Median over the rounds. */
  rps: number;
  p50: number;
  p99: number;
  /**
   * rps over the baseline's (raw node:http, or in `durable` Coda's own
   * `stack`): the median over the rounds of the ratio within each round
   * (see `pairedRatio`).
   */
  ratio: number | null;
  /**
   * Median over the rounds of the server's CPU time per request, in µs, and
   * the baseline's over it: steadier than req/s on a shared machine, where a
   * round's throughput moves with what the neighbours do (absent in results
   * written before it was measured).
   */
  cpuUs?: number | null;
  cpuRatio?: number | null;
  /** req/s in each round, in round order (whatever order the servers ran in within it). */
  rounds: number[];
  /** Cores used by other processes during each round. */
  others: (number | null)[];
}

export interface Results {
  node: string;
  date: string;
  machine: Machine;
  options: { rounds: number; duration: number; warmup: number; connections: number; loader: string; pinned: boolean };
  scenarios: Partial<Record<Scenario, Record<string, Summary>>>;
  scheduler?: SchedulerResult;
  problems: string[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The median over the rounds of `values[i] / baselines[i]`: each round's two
 * loads ran seconds apart, so the machine's slow drift (its speed moves by
 * 10-25% here, whatever runs) mostly cancels within a round, where the ratio
 * of two medians taken from different rounds would keep it.
 */
export function pairedRatio(values: readonly number[], baselines: readonly number[]): number {
  return median(roundRatios(values, baselines));
}

const roundRatios = (values: readonly number[], baselines: readonly number[]): number[] => values.map((value, i) => value / baselines[i]!);

/** `, middle half of the rounds a-b`: the middle half of the rounds' ratios, how far to trust their median. */
function spread(values: readonly number[], baselines: readonly number[]): string {
  const sorted = roundRatios(values, baselines).sort((a, b) => a - b);
  if (sorted.length < 4) return '';
  return `, middle half of the rounds ${n2(sorted[Math.floor(sorted.length / 4)]!)}-${n2(sorted[Math.ceil((sorted.length * 3) / 4) - 1]!)}`;
}

const LABEL: Record<string, string> = { node: 'node:http', 'coda-stack': 'Coda, stack', fastify: 'Fastify 5', koa: 'Koa 3', express: 'Express 5', hono: 'Hono 4', coda: 'Coda' };
const COLOR: Record<string, string> = { node: '#888888', 'coda-stack': '#98df8a', fastify: '#1f77b4', koa: '#9467bd', express: '#8c564b', hono: '#ff7f0e', coda: '#2ca02c' };
/** Every server key, in the order tables and charts show them. */
const KEYS = ['node', 'coda-stack', ...FRAMEWORKS.filter((f) => f !== 'node')];
/** What a scenario's ratios are to. */
const baseline = (scenario: Scenario): string => (scenario === 'durable' ? 'Coda stack' : 'node:http');

const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');
const n2 = (v: number): string => v.toFixed(2);

/** A horizontal bar chart of each server's ratio to its scenario's baseline, one group per scenario. */
export function chart(results: Results): string {
  const bar = 16;
  const left = 110;
  const width = 560;
  const scenarios = SCENARIOS.filter((s) => results.scenarios[s] !== undefined);
  const ratios = scenarios.flatMap((s) => Object.values(results.scenarios[s]!).map((x) => x.ratio ?? 0));
  const max = Math.max(1.1, ...ratios) * 1.08;
  const x = (ratio: number): number => left + (ratio / max) * width;
  const parts: string[] = [];
  let y = 40;
  for (const scenario of scenarios) {
    const label = scenario === 'durable' ? `${scenario} (× ${baseline(scenario)})` : scenario;
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${label}</text>`);
    y += 20;
    for (const key of KEYS) {
      const summary = results.scenarios[scenario]![key];
      if (summary?.ratio == null) continue;
      parts.push(
        `<text x="${left - 6}" y="${y + 12}" text-anchor="end">${LABEL[key]}</text>`,
        `<rect x="${left}" y="${y}" width="${(x(summary.ratio) - left).toFixed(1)}" height="${bar - 3}" fill="${COLOR[key]}"/>`,
        `<text x="${(x(summary.ratio) + 4).toFixed(1)}" y="${y + 12}">${n2(summary.ratio)}× (${n0(summary.rps)}/s)</text>`,
      );
      y += bar;
    }
    y += 10;
  }
  const one = x(1).toFixed(1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 120}" height="${y + 10}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Requests per second relative to raw node:http, durable to Coda's stack (Node ${results.node}, median of ${results.options.rounds} rounds)</text>`,
    `<line x1="${one}" y1="30" x2="${one}" y2="${y}" stroke="#bbbbbb" stroke-dasharray="4 3"/>`,
    ...parts,
    `<text x="${one}" y="${y + 8}" text-anchor="middle" font-size="10">1.0</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** The CPU-per-request ratio beside a req/s one: shown, never what decides "met". */
const byCpu = (s: Summary): string => (s.cpuRatio == null ? '' : ` (${n2(s.cpuRatio)}× by CPU per request)`);

function targets(results: Results): string[] {
  const coda = (s: Scenario): Summary | undefined => results.scenarios[s]?.coda;
  const rows: TargetRow[] = [];
  const node = (s: Scenario): number[] => results.scenarios[s]?.node?.rounds ?? [];
  const hello = coda('hello');
  if (hello?.ratio != null) rows.push(['hello ≥ 0.97× node:http', `${n2(hello.ratio)}×${spread(hello.rounds, node('hello'))}${byCpu(hello)}`, hello.ratio >= 0.97]);
  const stack = coda('stack');
  if (stack?.ratio != null) {
    rows.push(['stack ≥ 0.95× node:http by hand', `${n2(stack.ratio)}×${spread(stack.rounds, node('stack'))}${byCpu(stack)}`, stack.ratio >= 0.95]);
    // Against each peer as against node:http: round by round.
    const peers = Object.entries(results.scenarios.stack!).filter(([name]) => name !== 'coda' && name !== 'node');
    const closest = peers.map(([name, peer]) => ({ name, ratio: pairedRatio(stack.rounds, peer.rounds) })).sort((a, b) => a.ratio - b.ratio)[0];
    if (closest !== undefined) rows.push(['stack ahead of every peer', `Coda ${n2(closest.ratio)}× the closest, ${LABEL[closest.name]}${spread(stack.rounds, results.scenarios.stack![closest.name]!.rounds)}`, closest.ratio > 1]);
  }
  const io = coda('after-io');
  if (io !== undefined && stack !== undefined) rows.push(['after-io p99 within 5% of stack p99', `${n2(io.p99)} ms vs ${n2(stack.p99)} ms (${n2(io.p99 / stack.p99)}×)`, io.p99 <= stack.p99 * 1.05]);
  const durable = coda('durable');
  const durableBase = results.scenarios.durable?.['coda-stack'];
  if (durable?.ratio != null && durableBase !== undefined) {
    rows.push(['durable ≥ 0.80× Coda\'s stack', `${n2(durable.ratio)}×${byCpu(durable)}`, durable.ratio >= 0.8]);
    rows.push(['durable p99 ≤ 1.5× Coda\'s stack p99', `${n2(durable.p99)} ms vs ${n2(durableBase.p99)} ms (${n2(durable.p99 / durableBase.p99)}×)`, durable.p99 <= durableBase.p99 * 1.5]);
  }
  const sched = results.scheduler;
  if (sched !== undefined) {
    rows.push(['scheduler ≥ 1,000,000 tasks/s', `${n0(sched.syncTasksPerSecond)} sync, ${n0(sched.asyncTasksPerSecond)} async`, sched.syncTasksPerSecond >= 1e6]);
    rows.push(['≤ 300 bytes per pending task (100,000 pending)', `${sched.bytesPerPendingTask} B (${sched.bytesPerPendingTaskWithClosure} B with a closure per task)`, sched.bytesPerPendingTask <= 300]);
  }
  return targetTable(rows);
}

function targetTable(rows: TargetRow[]): string[] {
  const verdict = (met: boolean | null): string => (met === null ? '' : met ? 'met' : 'missed');
  return ['| target | measured | |', '| --- | --- | --- |', ...rows.map(([t, m, met]) => `| ${t} | ${m} | ${verdict(met)} |`)];
}

/** The other benchmarks' parts: their targets in one table, then each part as its benchmark wrote it. */
function partSections(parts: WrittenPart[]): string[] {
  if (parts.length === 0) return [];
  const lines = [
    '## The other benchmarks',
    '',
    'Each written by its own command (bench/README.md), on its own day: a part is only as recent as its date.',
    '',
    '### Targets',
    '',
    ...targetTable(parts.flatMap((part) => part.targets.map(([t, m, met]): TargetRow => [`${part.title}: ${t}`, m, met]))),
    '',
  ];
  for (const part of parts) {
    lines.push(
      `### ${part.title}`,
      '',
      `\`${part.command}\` on Node ${part.node}, ${part.date.slice(0, 10)}; ${part.machine.cpu}, ${part.machine.cores} cores; Coda at \`${part.machine.coda}\`.`,
      '',
      ...part.lines,
      '',
    );
  }
  return lines;
}

function section(results: Results, svg: string): string[] {
  const { machine: m, options: o } = results;
  const lines = [
    `## Node ${results.node}`,
    '',
    `${results.date.slice(0, 10)}; ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Coda at \`${m.coda}\`.`,
    `Loader ${o.loader}, ${o.connections} connections, ${o.warmup} s warm-up then ${o.rounds} rounds × ${o.duration} s per server; ` +
      (o.pinned ? 'server pinned to CPU 0, loader to CPU 1.' : 'not pinned.'),
    '',
    `![ratios to node:http](${svg})`,
    '',
    '### Targets',
    '',
    ...targets(results),
    '',
  ];
  for (const scenario of SCENARIOS) {
    const rows = results.scenarios[scenario];
    if (rows === undefined) continue;
    lines.push(`### ${scenario}`, '', `| server | req/s | × ${baseline(scenario)} | CPU µs per request | × by CPU | p50 ms | p99 ms | req/s by round | other load (cores) |`, '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
    for (const key of KEYS) {
      const s = rows[key];
      if (s === undefined) continue;
      lines.push(`| ${LABEL[key]} | ${n0(s.rps)} | ${s.ratio == null ? '' : `${n2(s.ratio)}×`} | ${s.cpuUs == null ? '' : n2(s.cpuUs)} | ${s.cpuRatio == null ? '' : `${n2(s.cpuRatio)}×`} | ${n2(s.p50)} | ${n2(s.p99)} | ${s.rounds.map(n0).join(', ')} | ${s.others.map((v) => (v === null ? '?' : n2(v))).join(', ')} |`);
    }
    lines.push('');
  }
  const sched = results.scheduler;
  if (sched !== undefined) {
    lines.push(
      '### Scheduler (no HTTP)',
      '',
      `- ${n0(sched.syncTasksPerSecond)} synchronous tasks per second, ${n0(sched.asyncTasksPerSecond)} tasks returning a promise per second.`,
      `- ${n0(sched.pending)} pending: ${sched.bytesPerPendingTask} bytes of heap per task, each a request whose view called \`after()\` once: its exchange and HttpRequest (no socket), ` +
        `the task's entry with the request's async context it keeps, Outcome, entries array, queue slot; ` +
        `${sched.bytesPerPendingTaskWithClosure} with a closure per task, as \`after(() => ...)\` makes; ` +
        `${n0(sched.bytesPerPendingTaskWithExchange)} when each also holds its own HttpResponse.`,
      '',
    );
  }
  if (results.problems.length > 0) lines.push('### Mismatches', '', ...results.problems.map((p) => `- ${p}`), '');
  return lines;
}

const INTRO = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts) from bench/results-node*.json, then
the other benchmarks' parts (bench/results-<name>.json, each written by its own
command); the profile notes at the end are bench/profile-notes.md. How it is measured, and
how to run it: bench/README.md.

Each server runs in its own process; the load comes from another (h2load if
installed, else autocannon), always a fixed number of requests sized to the
wanted duration, so the servers' counters can be checked exactly. Servers are
loaded in rounds, each server once a round, in a fresh random order each
round; req/s, p50 and p99 are medians over the rounds; a ratio is the median
over the rounds of the ratio within the round, to raw node:http (in durable,
to Coda's own stack): the machine's speed drifts by 10-25%, and a round's
loads are close enough in time to share it. Before timing every
server's answers are checked, and after every load its counters (one after
task per response). "Other load" is the CPU other processes on the machine
used during each round (a round is run again, twice at most, above 0.25).
"CPU µs per request" is the server process's own CPU time (from /proc) over
the requests of a round, median over the rounds; "× by CPU" is the baseline's
over it, paired by round as req/s is. It moves less than req/s when neighbours share the machine, and is
shown beside the req/s ratio, which alone decides whether a target is met.
`;

/** Writes RESULTS.md and the charts; returns the files written. */
export function writeReport(benchDir: string): string[] {
  const files = readdirSync(benchDir).filter((f) => /^results-node\d+\.json$/.test(f)).sort((a, b) => parseInt(a.slice(12), 10) - parseInt(b.slice(12), 10));
  const lines = [INTRO];
  const written: string[] = [];
  for (const file of files) {
    const results = JSON.parse(readFileSync(join(benchDir, file), 'utf8')) as Results;
    const svg = file.replace('.json', '.svg');
    writeFileSync(join(benchDir, svg), chart(results));
    written.push(join(benchDir, svg));
    lines.push(...section(results, svg));
  }
  lines.push(...partSections(readParts(benchDir)));
  const notes = join(benchDir, 'profile-notes.md');
  if (existsSync(notes)) lines.push(readFileSync(notes, 'utf8').trimEnd(), '');
  writeFileSync(join(benchDir, 'RESULTS.md'), lines.join('\n'));
  written.push(join(benchDir, 'RESULTS.md'));
  return written;
}

// `node dist-bench/bench/report.js` (npm run bench:report) rewrites RESULTS.md from the results files.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const file of writeReport(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench'))) process.stdout.write(`wrote ${file}\n`);
}
