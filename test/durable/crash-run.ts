import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface CrashRunOptions {
  db: string;
  kills: number;
  /** Responses to receive between two kills (a little random on top, so kills land at different moments). */
  requestsBetweenKills: number;
  connections: number;
}

export interface CrashRunResult {
  kills: number;
  /** Numbers whose response (200) the client received. */
  received: Set<number>;
  /** How many times each number's task ran. */
  ran: Map<number, number>;
  lost: number[];
  duplicates: number[];
}

const fixture = fileURLToPath(new URL('./fixtures/crash-server.ts', import.meta.url));

export interface CrashServer {
  process: ChildProcess;
  port: number;
  exited: Promise<void>;
}

/** Starts the crash server; resolves once it listens. Every "ran n" line it prints is counted in `ran`. */
export async function startCrashServer(db: string, ran: Map<number, number>, onRan: () => void, env: Record<string, string> = {}): Promise<CrashServer> {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CRASH_DB: db, CODA_LOG_LEVEL: 'silent', ...env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the crash server exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [word, value] = line.split(' ');
      if (word === 'listening') resolve(Number(value));
      else if (word === 'ran') {
        const n = Number(value);
        ran.set(n, (ran.get(n) ?? 0) + 1);
        onRan();
      }
    });
  });
  return { process: child, port, exited };
}

/**
 * Loads a crash server with POSTs, kills it with SIGKILL `kills` times after a
 * number of responses, starts it again on the same file each time, then waits
 * until every received response's task has run (or 20 s pass).
 */
export async function crashRun(options: CrashRunOptions): Promise<CrashRunResult> {
  const received = new Set<number>();
  const ran = new Map<number, number>();
  let waiting: (() => void) | undefined;
  const onRan = (): void => waiting?.();
  let next = 0;
  for (let kill = 0; kill <= options.kills; kill++) {
    const child = await startCrashServer(options.db, ran, onRan);
    if (kill === options.kills) {
      // The last life: no load, just recovery. Wait for every received task to have run.
      const deadline = Date.now() + 20_000;
      while ([...received].some((n) => !ran.has(n)) && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 250).unref();
        });
      }
      child.process.kill('SIGKILL');
      await child.exited;
      break;
    }
    const target = received.size + options.requestsBetweenKills + Math.floor(Math.random() * options.requestsBetweenKills);
    let killed = false;
    const worker = async (): Promise<void> => {
      while (!killed && received.size < target) {
        const n = next++;
        try {
          const res = await fetch(`http://127.0.0.1:${child.port}/work/${n}`, { method: 'POST' });
          if (res.status === 200 && (await res.text()) === 'ok') received.add(n);
        } catch {
          // The process was killed under this request: no response was received, nothing is owed.
        }
      }
      if (!killed) {
        killed = true;
        child.process.kill('SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: options.connections }, worker));
    await child.exited;
  }
  const lost = [...received].filter((n) => !ran.has(n)).sort((a, b) => a - b);
  const duplicates = [...ran].filter(([, count]) => count > 1).map(([n]) => n);
  return { kills: options.kills, received, ran, lost, duplicates };
}
