/**
 * One load run, always in a process of its own: h2load (nghttp2, C++) when it
 * is installed, else autocannon (`node load.js '<LoadOptions>'` runs it).
 * Both make exactly `amount` requests, so no request is cut off mid-way and
 * the server's counters can be checked exactly. Latencies are kept at 10 µs
 * resolution (autocannon's own histogram keeps whole milliseconds).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Loader = 'h2load' | 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  amount: number;
  headers: Record<string, string>;
}

export interface LoadResult {
  /** Responses received. */
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles over every response, in milliseconds. */
  p50: number;
  p99: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: number;
}

const BUCKET_MS = 0.01;
const BUCKETS = 500_000; // up to 5 s; slower answers land in the last bucket

class Latencies {
  readonly #histogram = new Uint32Array(BUCKETS);
  #count = 0;

  record(ms: number): void {
    this.#histogram[Math.min(BUCKETS - 1, Math.floor(ms / BUCKET_MS))]!++;
    this.#count++;
  }

  percentile(q: number): number {
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#histogram[i]!;
      if (seen >= rank) return (i + 0.5) * BUCKET_MS;
    }
    return BUCKETS * BUCKET_MS;
  }
}

/** h2load if it runs here (and was not refused), else autocannon. */
export function pickLoader(wanted: string | undefined): Loader {
  if (wanted === 'autocannon') return 'autocannon';
  const found = spawnSync('h2load', ['--version']).status === 0;
  if (wanted === 'h2load' && !found) throw new Error('--loader=h2load: h2load is not installed (Debian: nghttp2-client)');
  return found ? 'h2load' : 'autocannon';
}

/** No load runs longer than this: a server that stops answering fails the run instead of hanging it. */
const LOAD_LIMIT_MS = 120_000;

function exec(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024, timeout: LOAD_LIMIT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Runs one load in a child process, pinned to `cpus` (a taskset list) when given. */
export async function runLoad(loader: Loader, options: LoadOptions, cpus: string | undefined): Promise<LoadResult> {
  const pinned = (command: string, args: string[]): Promise<string> =>
    cpus === undefined ? exec(command, args) : exec('taskset', ['-c', cpus, command, ...args]);
  if (loader === 'autocannon') {
    return JSON.parse(await pinned(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(options)])) as LoadResult;
  }
  const dir = mkdtempSync(join(tmpdir(), 'coda-bench-'));
  try {
    const log = join(dir, 'requests.log');
    const headers = Object.entries(options.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
    const out = await pinned('h2load', ['--h1', '-t', '1', '-c', String(options.connections), '-n', String(options.amount), ...headers, `--log-file=${log}`, options.url]);
    const failures = /(\d+) errored, (\d+) timeout/.exec(out);
    if (failures === null) throw new Error(`unexpected h2load output:\n${out}`);
    const latencies = new Latencies();
    const statuses: Record<string, number> = {};
    let requests = 0;
    let first = Infinity;
    let last = -Infinity;
    // Each line: start (µs since the epoch), status, duration (µs). h2load's own total has 10 ms resolution.
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      const [start, status, micros] = line.split('\t');
      if (start === undefined || status === undefined || micros === undefined) continue;
      requests++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      latencies.record(Number(micros) / 1000);
      first = Math.min(first, Number(start));
      last = Math.max(last, Number(start) + Number(micros));
    }
    const seconds = (last - first) / 1e6;
    const errors = Number(failures[1]) + Number(failures[2]);
    return { requests, seconds, rps: requests / seconds, p50: latencies.percentile(0.5), p99: latencies.percentile(0.99), statuses, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function autocannonMain(options: LoadOptions): Promise<LoadResult> {
  const { default: autocannon } = await import('autocannon');
  const latencies = new Latencies();
  const statuses: Record<string, number> = {};
  let requests = 0;
  const started = performance.now();
  let last = started;
  return new Promise((resolve, reject) => {
    // autocannon notices the end on its next sample tick: tick often, and time up to the last response.
    const instance = autocannon(
      { url: options.url, connections: options.connections, amount: options.amount, headers: options.headers, timeout: 10, sampleInt: 20 },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (last - started) / 1000;
        resolve({
          requests, seconds, rps: requests / seconds, p50: latencies.percentile(0.5), p99: latencies.percentile(0.99),
          statuses, errors: result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      last = performance.now();
      requests++;
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      latencies.record(responseTime);
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await autocannonMain(JSON.parse(process.argv[2] ?? '{}') as LoadOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
