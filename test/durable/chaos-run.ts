// The chaos of test/durable/chaos.test.ts and test/bullmq/chaos.test.ts, on
// whichever store fixtures/chaos.ts is given (its env): two web processes and
// two workers under load, one SIGKILLed at random every 0.5-1.5 s and started
// again, `kills` times; then, the killing over, every task of every 202
// received has run (by the log files each process appends to), a second run
// only as a later attempt, no request hung, no process died of its own.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/chaos.ts', import.meta.url));
/** The load's bound: requests go on while the killer kills, up to this many. */
const MAX_REQUESTS = 50_000;
const CONNECTIONS = 4;
/** A request unanswered this long hung (the slowest honest answer is a 503 after the store's 3 s command timeout). */
const HUNG_MS = 15_000;

type Kind = 'web' | 'worker';

interface Proc {
  kind: Kind;
  child: ChildProcess;
  /** The web process's port. */
  port: number;
  up: boolean;
  /** Set before the killer's (or the test's end's) signal: an exit without it is the process's own. */
  signalled: boolean;
  exited: Promise<void>;
}

/** What every process said that the test checks: the n of each "ran" line, exits of their own, and error lines. */
interface Said {
  ran: Set<number>;
  onRan: () => void;
  ownExits: string[];
  errors: string[];
}

/** A process's JSON log line, shortened to what a failure's message needs: its level, message and error's message. */
function logged(line: string): string {
  const { level, msg, err } = JSON.parse(line) as { level: number; msg?: string; err?: { message?: string } };
  return `${level} ${msg ?? ''}${err?.message === undefined ? '' : ` (${err.message.slice(0, 300)})`}`;
}

/** Starts a chaos process of `kind`; resolves once it serves (web) or runs (worker). */
async function start(t: TestContext, kind: Kind, env: Record<string, string>, said: Said): Promise<Proc> {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', fixture], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, CHAOS_ROLE: kind, CODA_LOG_LEVEL: 'error' },
  });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => { if (stderr.push(line) > 20) stderr.shift(); });
  const proc: Proc = { kind, child, port: 0, up: false, signalled: false, exited: Promise.resolve() };
  proc.exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    proc.up = false;
    if (!proc.signalled) said.ownExits.push(`${kind} ${child.pid} exited ${code ?? signal}; its stderr: ${stderr.join(' | ')}`);
    resolve();
  }));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => reject(new Error(`a ${kind} process exited before it ran; its stderr: ${stderr.join(' | ')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [word, value] = line.split(' ');
      if (word === 'ran') {
        said.ran.add(Number(value));
        said.onRan();
      } else if (word === 'listening' || word === 'ready') {
        proc.port = Number(value ?? 0);
        proc.up = true;
        resolve();
      } else if (line.startsWith('{')) said.errors.push(`${kind} ${child.pid}: ${logged(line)}`);
    });
  });
  return proc;
}

/** Every run the processes' log files recorded: n → the attempts it ran as, in order, with their pids. */
export function runsIn(logs: string): Map<number, { attempt: number; pid: number }[]> {
  const runs = new Map<number, { attempt: number; pid: number }[]>();
  for (const name of readdirSync(logs)) {
    for (const line of readFileSync(path.join(logs, name), 'utf8').split('\n')) {
      if (line === '') continue;
      const [n, attempt, pid] = line.split(' ').map(Number) as [number, number, number];
      runs.set(n, [...runs.get(n) ?? [], { attempt, pid }]);
    }
  }
  return runs;
}

export interface ChaosOptions {
  /** The fixture's env: its store (CHAOS_DB, or CHAOS_REDIS_PORT and CHAOS_PREFIX) and CHAOS_LOGS, a folder of its own. */
  env: Record<string, string>;
  kills: number;
  /** Another fault, made once after kill number `at` (no process starting meanwhile), awaited before the killing goes on. */
  fault?: { at: number; make: () => Promise<void> };
  /** The answers other than 202 that may come (a 503 while the store is away), and the processes' error lines that may. */
  allowed?: { status: number; errors: RegExp };
  /** Where the tasks of these requests are stored (their n, and the task id their 202 carried), for a failure's message. */
  where: (tasks: { n: number; id: string }[]) => Promise<unknown>;
}

export interface ChaosResult {
  /** How many answers were the allowed status. */
  allowedAnswers: number;
  /** Kills the processes left; the test calls it once it has read what it needs from the store. */
  stop: () => Promise<void>;
}

/** Runs the chaos, asserts what holds on every store (module comment), and returns what the test checks further. */
export async function runChaos(t: TestContext, { env, kills, fault, allowed, where }: ChaosOptions): Promise<ChaosResult> {
  const said: Said = { ran: new Set(), onRan: () => {}, ownExits: [], errors: [] };
  // Started one after another: the first creates the store's schema.
  const procs: Proc[] = [];
  for (const kind of ['web', 'web', 'worker', 'worker'] as const) procs.push(await start(t, kind, env, said));

  let next = 0;
  let killing = true;
  /** Each kill: its kind, and how many requests had been sent by then. */
  const killed: { kind: Kind; at: number }[] = [];
  const killer = (async () => {
    let restarts: Promise<void>[] = [];
    // Bounded rounds: one finds no process to kill while those killed before are still starting.
    for (let round = 0; killed.length < kills && round < 4 * kills; round++) {
      await delay(500 + Math.random() * 1_000);
      // A web process and a worker first, then either; never the last web process serving (the load needs one).
      const kind: Kind = killed.length === 0 ? 'web' : killed.length === 1 ? 'worker' : Math.random() < 0.5 ? 'web' : 'worker';
      const webs = procs.filter((proc) => proc.kind === 'web' && proc.up);
      const candidates = procs.filter((proc) => proc.kind === kind && proc.up && (kind === 'worker' || webs.length > 1));
      const victim = candidates[Math.floor(Math.random() * candidates.length)] ?? procs.find((proc) => proc.kind === 'worker' && proc.up);
      if (victim === undefined) continue;
      victim.signalled = true;
      victim.child.kill('SIGKILL');
      killed.push({ kind: victim.kind, at: next });
      await victim.exited;
      restarts.push(start(t, victim.kind, env, said).then((proc) => { procs[procs.indexOf(victim)] = proc; }));
      if (fault?.at === killed.length) {
        await Promise.all(restarts);
        restarts = [];
        await fault.make();
      }
    }
    await Promise.all(restarts);
    killing = false;
  })();

  const accepted = new Map<number, string>();
  const refused: string[] = [];
  let allowedAnswers = 0;
  const hung: number[] = [];
  const load = async (connection: number): Promise<void> => {
    let turn = connection;
    while (killing && next < MAX_REQUESTS) {
      const n = next++;
      // Round robin over the web processes; a refused connection (the process is dead) is tried on the other.
      for (let tries = 0; tries < 4; tries++) {
        const web = procs.filter((proc) => proc.kind === 'web')[turn++ % 2]!;
        if (!web.up) continue;
        try {
          const response = await fetch(`http://127.0.0.1:${web.port}/work/${n}`, { method: 'POST', signal: AbortSignal.timeout(HUNG_MS) });
          const body = await response.text();
          if (response.status === 202) accepted.set(n, body);
          else if (response.status === allowed?.status) allowedAnswers++;
          else refused.push(`${n}: ${response.status} ${body}`);
          break;
        } catch (error) {
          if ((error as Error).name === 'TimeoutError') hung.push(n);
          // Killed under this request: no response received, nothing owed (and not tried again: it may have registered).
          if ((error as { cause?: { code?: string } }).cause?.code !== 'ECONNREFUSED') break;
        }
      }
    }
  };
  await Promise.all([killer, ...Array.from({ length: CONNECTIONS }, (_, connection) => load(connection))]);

  // The survivors and the restarted drain; bounded, so that a lost task fails with where it is rather than timing out.
  await Promise.race([
    new Promise<void>((resolve) => {
      said.onRan = () => { if ([...accepted.keys()].every((n) => said.ran.has(n))) resolve(); };
      said.onRan();
    }),
    delay(20_000, undefined, { ref: false }),
  ]);
  const stop = async (): Promise<void> => {
    for (const proc of procs) {
      proc.signalled = true;
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  };
  t.after(stop);

  const kinds = killed.map(({ kind, at }) => `${kind} at request ${at}`).join(', ');
  t.diagnostic(`${next} requests, ${accepted.size} accepted; killed: ${kinds}`);
  assert.deepEqual(['web', 'worker'].map((kind) => killed.some((kill) => kill.kind === kind)), [true, true], `each kind killed: ${kinds}`);
  assert.equal(killed.length, kills);
  // Under load throughout: requests sent before the first kill, between the kills and after the last.
  assert.ok(killed[0]!.at > 0 && killed.every((kill, i) => i === 0 || kill.at > killed[i - 1]!.at) && next > killed.at(-1)!.at, `load throughout the kills: ${next} requests; killed ${kinds}`);
  assert.deepEqual(hung, [], `no request went unanswered for ${HUNG_MS} ms`);
  assert.deepEqual(refused, [], 'every request that reached a live web process was accepted');
  const runs = runsIn(env.CHAOS_LOGS!);
  const missing = [...accepted].filter(([n]) => !runs.has(n)).sort(([a], [b]) => a - b).map(([n, id]) => ({ n, id }));
  assert.deepEqual(missing.map(({ n }) => n), [], `accepted, never run; stored as ${JSON.stringify(await where(missing.slice(0, 10)))}`);
  // At least once: a task runs again only as a later attempt (its process died with the attempt's end unrecorded).
  const sameAttempt = [...runs].filter(([, ran]) => new Set(ran.map(({ attempt }) => attempt)).size < ran.length);
  assert.deepEqual(sameAttempt, [], `one attempt run twice; stored as ${JSON.stringify(await where(sameAttempt.slice(0, 10).map(([n]) => ({ n, id: accepted.get(n) ?? '?' }))))}`);
  t.diagnostic(`${[...runs].filter(([, ran]) => ran.length > 1).length} tasks ran twice or more`);
  assert.deepEqual(said.ownExits, [], 'no process exited but by the killer');
  assert.deepEqual(said.errors.filter((line) => allowed?.errors.test(line) !== true), [], 'no process logged an error');
  return { allowedAnswers, stop };
}
