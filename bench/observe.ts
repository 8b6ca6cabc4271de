/**
 * What observability costs, on the `stack` scenario (bench/README.md):
 * raw node:http, and Coda's stack server with everything off (`none`), with
 * its defaults and the OpenTelemetry SDK and prom-client loaded but Coda's
 * tracing and metrics off (`off`), and with tracing and metrics on (`on`);
 * see servers/observe-options.ts. The four servers run side by side, warmed
 * up, then loaded in interleaved rounds; req/s are medians over the rounds.
 *
 *   npm run bench:observe -- --rounds=7 --requests=40000
 */
import { pickLoader, runLoad, type LoadResult } from './load.js';
import { stackHeaders } from './check.js';
import { writePart } from './parts.js';
import { median } from './report.js';
import { startServer, stopServer, type ServerProcess } from './spawn.js';

interface Variant {
  label: string;
  framework: 'node' | 'coda';
  observe?: 'none' | 'off' | 'on';
}

const VARIANTS: Variant[] = [
  { label: 'node:http', framework: 'node' },
  { label: 'coda, observability none', framework: 'coda', observe: 'none' },
  { label: 'coda, installed but off (defaults)', framework: 'coda', observe: 'off' },
  { label: 'coda, tracing + metrics on', framework: 'coda', observe: 'on' },
];

function option(name: string, fallback: number): number {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  const value = Number(given ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a whole number, got ${given}`);
  return value;
}

const rounds = option('rounds', 5);
const requests = option('requests', 30_000);
const connections = option('connections', 50);
const pinned = !process.argv.includes('--no-pin');
const loader = pickLoader(process.env.BENCH_LOADER);

async function load(server: ServerProcess, amount: number): Promise<LoadResult> {
  const result = await runLoad(loader, {
    url: `http://127.0.0.1:${server.port}/users/42`, connections, amount, headers: stackHeaders('42'),
  }, pinned ? '1' : undefined);
  const ok = result.statuses['200'] ?? 0;
  if (ok !== amount) throw new Error(`${server.framework}: ${ok} answers 200 of ${amount} (${JSON.stringify(result.statuses)})`);
  return result;
}

const servers: ServerProcess[] = [];
try {
  for (const variant of VARIANTS) {
    if (variant.observe === undefined) delete process.env.CODA_BENCH_OBSERVE;
    else process.env.CODA_BENCH_OBSERVE = variant.observe;
    servers.push(await startServer(variant.framework, 'stack', pinned ? '0' : undefined));
  }
  for (const server of servers) await load(server, requests);
  const rps: number[][] = VARIANTS.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, server] of servers.entries()) rps[i]!.push((await load(server, requests)).rps);
    process.stderr.write(`round ${round + 1}/${rounds}: ${rps.map((r) => Math.round(r.at(-1)!)).join(' / ')} req/s\n`);
  }
  const medians = rps.map(median);
  const [node, none, off, on] = medians as [number, number, number, number];
  const table = [
    '| server | median req/s | rounds (req/s) |',
    '| --- | ---: | --- |',
    ...VARIANTS.map((variant, i) => `| ${variant.label} | ${Math.round(medians[i]!)} | ${rps[i]!.map(Math.round).join(', ')} |`),
  ];
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const file = writePart('observe', {
    title: 'Observability',
    command: `npm run bench:observe -- --rounds=${rounds} --requests=${requests} --connections=${connections}${pinned ? '' : ' --no-pin'}`,
    targets: [
      ['tracing + metrics on ≥ 0.85× node:http', ratio(on, node), on / node >= 0.85],
      ['installed but off ≥ 0.97× Coda without them', ratio(off, none), off / none >= 0.97],
    ],
    lines: [
      `Loader ${loader}, ${connections} connections, ${requests} requests per load, ${rounds} interleaved rounds, ${pinned ? 'server on CPU 0, loader on CPU 1' : 'not pinned'}.`,
      'The `stack` scenario; the variants are servers/observe-options.ts (tracing: every span sampled, batched, dropped by the exporter).',
      `Also: tracing + metrics on / installed but off ${ratio(on, off)}; observability none / node:http ${ratio(none, node)}.`,
      '',
      ...table,
    ],
  });
  process.stdout.write(`${table.join('\n')}\n\nwrote ${file}\n`);
} finally {
  await Promise.all(servers.map(stopServer));
}
