// A real redis-server for the tests: Debian's binary, started on a free
// loopback port with a temporary directory and no persistence, stopped and
// removed after. Without the binary the Redis tests are skipped, saying why,
// unless CODA_REQUIRE_REDIS=1 (CI sets it): then they fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { started } from '../helpers.js';

const BINARY = process.env.CODA_REDIS_SERVER ?? 'redis-server';

/** Why the Redis tests cannot run here, or undefined when they can. Throws when CI requires Redis and it is missing. */
export function redisMissing(): string | undefined {
  const found = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (found.error === undefined && found.status === 0) return undefined;
  const reason = `${BINARY} is not installed (apt-get install -y redis-server): the Redis tests are skipped`;
  if (process.env.CODA_REQUIRE_REDIS === '1') throw new Error(`CODA_REQUIRE_REDIS=1 but ${reason}`);
  return reason;
}

export interface RedisServer {
  host: string;
  port: number;
  /** Stops the server (SIGKILL: nothing flushed, as a crash), keeping its port for start(). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, nothing is answered, commands wait in its sockets. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT): it then runs what waited. */
  thaw(): void;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Registers hooks that start a Redis for this test file and stop it after:
 * `missing` is why the Redis tests skip (undefined when they run), `server()`
 * the running server.
 */
export function useRedis(options: { persistent?: boolean } = {}): { missing: string | undefined; server: () => RedisServer } {
  const missing = redisMissing();
  const running = started(async () => (missing === undefined ? startRedis(options) : undefined), (redis) => redis?.stop());
  return { missing, server: () => running()! };
}

/**
 * A one-node Redis Cluster: the node takes every hash slot, then says the
 * cluster is up, which it does on its own schedule (its cron, ten times a
 * second): asked a bounded number of times.
 */
async function ownEverySlot(port: number): Promise<void> {
  const { Redis } = await import('ioredis');
  const admin = new Redis({ port });
  try {
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    for (let attempt = 0; attempt < 100; attempt++) {
      if (/^cluster_state:ok/m.test(String(await admin.call('CLUSTER', 'INFO')))) return;
      await delay(50);
    }
    throw new Error('the one-node Redis Cluster did not come up within 5 s');
  } finally {
    admin.disconnect();
  }
}

/**
 * Starts a redis-server of its own, ready for connections. `persistent`:
 * every write appended to an AOF file and fsynced before Redis answers, so
 * that a server killed and started again has lost nothing it acknowledged.
 * `cluster`: a one-node Redis Cluster, every hash slot its own.
 */
export async function startRedis({ persistent = false, cluster = false } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(BINARY, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', persistent ? 'yes' : 'no', '--appendfsync', 'always',
      '--maxmemory-policy', 'noeviction', '--protected-mode', 'no',
      ...cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf')] : [],
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.includes('Ready to accept connections')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready`)));
    });
  };
  const kill = async (): Promise<void> => {
    // Killed already (a signal's exit sets signalCode, not exitCode): its 'exit' came, and would be waited for ever.
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  await start();
  if (cluster) await ownEverySlot(port);
  return {
    host: '127.0.0.1',
    port,
    kill,
    start,
    freeze: () => void child!.kill('SIGSTOP'),
    thaw: () => void child!.kill('SIGCONT'),
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
