/**
 * The `static` scenario: a 1 KB and a 1 MB file served by Coda's
 * staticFiles(), Fastify's @fastify/static and Express's express.static,
 * each in its own process. Rounds are interleaved (every server once per
 * round, the order rotating) and each figure is the median over the rounds:
 * the machine is small and shared, so a single run says little.
 *
 *   npm run bench:static -- [--rounds=5] [--no-pin] [--loader=autocannon] [--smoke]
 *
 * Writes its part of bench/RESULTS.md (parts.ts; not with --smoke, which checks the answers only).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pickLoader, runLoad, type LoadResult } from './load.js';
import { writePart, type TargetRow } from './parts.js';
import { median } from './report.js';
import { startScript, stopServer } from './spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVERS = ['coda', 'fastify', 'express'] as const;

/** Each file, and how its loads run: many small requests, or fewer large ones. */
const FILES = [
  { name: '1kb.txt', size: 1024, amount: 20_000, connections: 50 },
  { name: '1mb.bin', size: 1024 * 1024, amount: 1_500, connections: 10 },
] as const;

function option(name: string): string | undefined {
  const flag = process.argv.find((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  if (flag === undefined) return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  return flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : 'true';
}

const smoke = option('smoke') === 'true';
const rounds = smoke ? 1 : Number(option('rounds') ?? 5);
const pin = option('no-pin') === 'true' ? undefined : { server: '0', loader: '1' };
const loader = pickLoader(option('loader'));

const root = mkdtempSync(join(tmpdir(), 'coda-static-bench-'));
const contents = new Map<string, Buffer>();
for (const file of FILES) {
  const bytes = Buffer.alloc(file.size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 97 + ((i * 7) % 26);
  writeFileSync(join(root, file.name), bytes);
  contents.set(file.name, bytes);
}

const servers = await Promise.all(SERVERS.map(async (name) => {
  const { child, ready } = await startScript<{ port: number }>(join(here, 'static-servers', `${name}.js`), [root], `${name} (static)`, pin?.server);
  return { name, child, port: ready.port };
}));

try {
  // Every server must send the same bytes, with an ETag and a Content-Length, before anything is timed.
  for (const server of servers) {
    for (const file of FILES) {
      const response = await fetch(`http://127.0.0.1:${server.port}/static/${file.name}`);
      const body = Buffer.from(await response.arrayBuffer());
      const problems = [
        response.status !== 200 && `status ${response.status}`,
        !body.equals(contents.get(file.name)!) && `a different body (${body.length} bytes)`,
        response.headers.get('etag') === null && 'no ETag',
        response.headers.get('content-length') !== String(file.size) && `Content-Length ${response.headers.get('content-length')}`,
      ].filter(Boolean);
      if (problems.length > 0) throw new Error(`${server.name} /static/${file.name}: ${problems.join(', ')}`);
    }
  }

  const results = new Map<string, LoadResult[]>();
  for (let round = 0; round < rounds; round++) {
    for (const file of FILES) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      for (const server of order) {
        const amount = smoke ? 200 : file.amount;
        const result = await runLoad(loader, { url: `http://127.0.0.1:${server.port}/static/${file.name}`, connections: Math.min(file.connections, amount), amount, headers: {} }, pin?.loader);
        if (result.errors > 0 || result.statuses['200'] !== amount) throw new Error(`${server.name} ${file.name}: ${JSON.stringify(result.statuses)}, ${result.errors} errors`);
        const key = `${server.name} ${file.name}`;
        results.set(key, [...(results.get(key) ?? []), result]);
        process.stderr.write(`round ${round + 1}/${rounds} ${key}: ${Math.round(result.rps)} req/s\n`);
      }
    }
  }
  if (smoke) {
    process.stdout.write('static smoke: every server answered every request with the right file\n');
  } else {
    const { lines, targets } = report(results);
    const file = writePart('static', { title: 'Static files', command: `npm run bench:static -- --rounds=${rounds}${pin === undefined ? ' --no-pin' : ''}`, targets, lines });
    process.stdout.write(`${lines.join('\n')}\n\nwrote ${file}\n`);
  }
} finally {
  await Promise.all(servers.map(stopServer));
  rmSync(root, { recursive: true, force: true });
}

/** The table, and Coda's ratio to each peer per file (the issue sets no figure to reach: no verdict). */
function report(results: Map<string, LoadResult[]>): { lines: string[]; targets: TargetRow[] } {
  const lines = [
    `Loader ${loader}. ${pin === undefined ? 'Not pinned.' : 'Server on CPU 0, loader on CPU 1 (taskset).'} Coda's staticFiles(), Fastify's @fastify/static`,
    'and Express\'s express.static, each in its own process; rounds interleaved (each server once per round, the',
    'order rotating), every figure the median over the rounds.',
    `Each load: the 1 KB file ${FILES[0].amount.toLocaleString('en')} requests over ${FILES[0].connections} keep-alive connections; the 1 MB file ${FILES[1].amount.toLocaleString('en')} requests over ${FILES[1].connections}.`,
    '',
    '| file | server | req/s | MB/s | p50 ms | p99 ms | Coda ÷ server |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const targets: TargetRow[] = [];
  for (const file of FILES) {
    const coda = median(results.get(`coda ${file.name}`)!.map((r) => r.rps));
    const ratios: string[] = [];
    for (const name of SERVERS) {
      const runs = results.get(`${name} ${file.name}`)!;
      const rps = median(runs.map((r) => r.rps));
      const mbs = (rps * file.size) / 1024 / 1024;
      const ratio = name === 'coda' ? '' : `${(coda / rps).toFixed(2)}×`;
      if (name !== 'coda') ratios.push(`${ratio} ${name}`);
      lines.push(`| ${file.name} | ${name} | ${Math.round(rps).toLocaleString('en')} | ${mbs.toFixed(1)} | ${median(runs.map((r) => r.p50)).toFixed(2)} | ${median(runs.map((r) => r.p99)).toFixed(2)} | ${ratio} |`);
    }
    targets.push([`${file.name}, Coda's req/s over each peer's`, ratios.join(', '), null]);
  }
  return { lines, targets };
}
