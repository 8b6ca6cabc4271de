/**
 * Where a server spends its time per request:
 *   npm run bench:profile -- coda stack [--seconds=5]
 * runs the server under `node --cpu-prof`, loads it, stops it and prints the
 * profile's summary: CPU time per request by category (Coda's src/, node
 * internals, each package, GC), the top functions by self time and, for
 * Coda's own functions, by total time. The profile stays in .cache/profiles/.
 *   node dist-bench/bench/profile.js --summarize <file.cpuprofile> <requests>
 * summarizes a profile made elsewhere.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stackHeaders } from './check.js';
import { pickLoader, runLoad } from './load.js';
import { FRAMEWORKS, isScenario, type Framework } from './shared.js';
import { startServer, stopServer } from './spawn.js';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

function category({ functionName, url }: CallFrame): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native (V8 builtins, C++)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist-bench/src/')) return 'coda src/';
  if (url.includes('/dist-bench/bench/')) return 'bench code';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  return pkg ? pkg[1]! : url;
}

function where({ functionName, url, lineNumber }: CallFrame): string {
  const file = url.replace(/^.*\/(dist-bench|node_modules)\//, '').replace(/^file:\/\//, '');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

/** The summary, per request, from the first request on (start-up left out). */
export function summarize(profile: Profile, requests: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stack = (id: number): ProfileNode[] => {
    const frames: ProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at)!);
    return frames;
  };
  const first = profile.samples.findIndex((id) => stack(id).some((n) => n.callFrame.functionName === 'parserOnIncoming'));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const categories = new Map<string, number>();
  let busy = 0;
  for (let i = Math.max(0, first); i < profile.samples.length; i++) {
    const frames = stack(profile.samples[i]!);
    const leaf = frames[0]!.callFrame;
    const micros = profile.timeDeltas[i] ?? 0;
    if (leaf.functionName === '(idle)') continue;
    busy += micros;
    self.set(where(leaf), (self.get(where(leaf)) ?? 0) + micros);
    categories.set(category(leaf), (categories.get(category(leaf)) ?? 0) + micros);
    for (const key of new Set(frames.filter((n) => category(n.callFrame) === 'coda src/').map((n) => where(n.callFrame)))) {
      total.set(key, (total.get(key) ?? 0) + micros);
    }
  }
  const per = (micros: number): string => `${(micros / requests).toFixed(2).padStart(7)} µs  ${((100 * micros) / busy).toFixed(1).padStart(5)}%`;
  const top = (map: Map<string, number>, n: number): string[] =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([key, micros]) => `  ${per(micros)}  ${key}`);
  return [
    `${requests.toLocaleString('en-US')} requests, ${(busy / 1000).toFixed(0)} ms of CPU: ${(busy / requests).toFixed(2)} µs per request`,
    'self time by category:',
    ...top(categories, 12),
    'top functions by self time:',
    ...top(self, 30),
    "Coda's functions by total time (self and callees):",
    ...top(total, 30),
  ].join('\n');
}

async function profileServer(framework: Framework, scenario: string, seconds: number): Promise<void> {
  if (!isScenario(scenario)) throw new Error(`unknown scenario ${scenario}`);
  const dir = join('.cache', 'profiles');
  const tmp = join(dir, `tmp-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const loader = pickLoader(process.env.BENCH_LOADER);
  const server = await startServer(framework, scenario, '0', ['--cpu-prof', `--cpu-prof-dir=${tmp}`]);
  const options = {
    url: `http://127.0.0.1:${server.port}${scenario === 'hello' ? '/' : '/users/42'}`,
    connections: 50,
    headers: scenario === 'hello' ? {} : stackHeaders('42'),
  };
  let requests = 0;
  try {
    const probe = await runLoad(loader, { ...options, amount: 5000 }, '1');
    const run = await runLoad(loader, { ...options, amount: Math.round(probe.rps * seconds) }, '1');
    requests = probe.requests + run.requests;
    process.stdout.write(`${framework}/${scenario}: ${Math.round(run.rps).toLocaleString('en-US')} req/s under the profiler\n`);
  } finally {
    await stopServer(server);
  }
  const file = join(dir, `${framework}-${scenario}-node${process.versions.node.split('.')[0]}.cpuprofile`);
  renameSync(join(tmp, readdirSync(tmp)[0]!), file);
  rmSync(tmp, { recursive: true });
  process.stdout.write(`${file}\n${summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, requests)}\n`);
}

const args = process.argv.slice(2);
if (args[0] === '--summarize') {
  process.stdout.write(`${summarize(JSON.parse(readFileSync(args[1]!, 'utf8')) as Profile, Number(args[2]))}\n`);
} else {
  const [framework, scenario = 'stack'] = args.filter((a) => !a.startsWith('--'));
  if (!(FRAMEWORKS as readonly string[]).includes(framework ?? '')) throw new Error(`usage: profile.js <${FRAMEWORKS.join('|')}> <scenario> [--seconds=5]`);
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 5);
  await profileServer(framework as Framework, scenario, seconds);
}
