// Chaos across processes on one SQLite file, as an operator's chaos test does
// it: two web processes and two workers (fixtures/chaos.ts) under load, one
// SIGKILLed at random every 0.5-1.5 s and started again, eight times. Then the
// survivors drain, and every task of every 202 received has run, each attempt
// once at most, no process died of its own, and the file is whole. (One
// process killed alone: crash.test.ts; a worker killed mid-task:
// test/cli/worker-crash.test.ts.)
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/chaos.ts', import.meta.url));
const KILLS = 8;
/** The load's bound: requests go on while the killer kills, up to this many. */
const MAX_REQUESTS = 50_000;
const CONNECTIONS = 4;

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
      } else if (line.startsWith('{')) said.errors.push(`${kind} ${child.pid}: ${line.slice(0, 500)}`);
    });
  });
  return proc;
}

/** The stored rows of the tasks of these n, read from the file: where each one is. */
function rowsOf(db: string, ns: number[]): unknown[] {
  const file = new DatabaseSync(db, { readOnly: true });
  try {
    const now = Date.now();
    return ns.map((n) => file.prepare(`SELECT json_extract(payload, '$.n') AS n, state, attempt, owner, lease_until - ? AS leaseInMs, run_at - ? AS runAtInMs, errors
      FROM coda_tasks WHERE json_extract(payload, '$.n') = ?`).all(now, now, n));
  } finally {
    file.close();
  }
}

/** Every run the processes' log files recorded: n → the attempts it ran as, in order, with their pids. */
function runsIn(logs: string): Map<number, { attempt: number; pid: number }[]> {
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

test('two web processes and two workers on one SQLite file, one SIGKILLed at random every 0.5-1.5 s under load and started again, eight times: every task of every 202 received runs, a second run only as a later attempt, no process dies of its own, and the file is whole', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coda-chaos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'tasks.db');
  const logs = mkdtempSync(path.join(dir, 'logs-'));
  const env = { CHAOS_DB: db, CHAOS_LOGS: logs };
  const said: Said = { ran: new Set(), onRan: () => {}, ownExits: [], errors: [] };
  // Started one after another: the first creates the file's schema.
  const procs: Proc[] = [];
  for (const kind of ['web', 'web', 'worker', 'worker'] as const) procs.push(await start(t, kind, env, said));

  let next = 0;
  let killing = true;
  /** Each kill: its kind, and how many requests had been sent by then. */
  const killed: { kind: Kind; at: number }[] = [];
  const killer = (async () => {
    const restarts: Promise<void>[] = [];
    // Bounded rounds: one finds no process to kill while those killed before are still starting.
    for (let round = 0; killed.length < KILLS && round < 4 * KILLS; round++) {
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
    }
    await Promise.all(restarts);
    killing = false;
  })();

  const accepted = new Set<number>();
  const refused: string[] = [];
  const load = async (connection: number): Promise<void> => {
    let turn = connection;
    while (killing && next < MAX_REQUESTS) {
      const n = next++;
      // Round robin over the web processes; a refused connection (the process is dead) is tried on the other.
      for (let tries = 0; tries < 4; tries++) {
        const web = procs.filter((proc) => proc.kind === 'web')[turn++ % 2]!;
        if (!web.up) continue;
        try {
          const response = await fetch(`http://127.0.0.1:${web.port}/work/${n}`, { method: 'POST' });
          if (response.status === 202) accepted.add(n);
          else refused.push(`${n}: ${response.status} ${await response.text()}`);
          break;
        } catch (error) {
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
      said.onRan = () => { if ([...accepted].every((n) => said.ran.has(n))) resolve(); };
      said.onRan();
    }),
    delay(20_000, undefined, { ref: false }),
  ]);
  for (const proc of procs) {
    proc.signalled = true;
    proc.child.kill('SIGKILL');
    await proc.exited;
  }

  const kills = killed.map(({ kind, at }) => `${kind} at request ${at}`).join(', ');
  t.diagnostic(`${next} requests, ${accepted.size} accepted; killed: ${kills}`);
  assert.deepEqual(['web', 'worker'].map((kind) => killed.some((kill) => kill.kind === kind)), [true, true], `each kind killed: ${kills}`);
  assert.equal(killed.length, KILLS);
  // Under load throughout: requests sent before the first kill, between the kills and after the last.
  assert.ok(killed[0]!.at > 0 && killed.every((kill, i) => i === 0 || kill.at > killed[i - 1]!.at) && next > killed.at(-1)!.at, `load throughout the kills: ${next} requests; killed ${kills}`);
  assert.deepEqual(refused, [], 'every request that reached a live web process was accepted');
  const runs = runsIn(logs);
  const missing = [...accepted].filter((n) => !runs.has(n)).sort((a, b) => a - b);
  assert.deepEqual(missing, [], `accepted, never run; stored as ${JSON.stringify(rowsOf(db, missing.slice(0, 10)))}`);
  // At least once: a task runs again only as a later attempt (its process died with the attempt's end unrecorded).
  const sameAttempt = [...runs].filter(([, ran]) => new Set(ran.map(({ attempt }) => attempt)).size < ran.length);
  assert.deepEqual(sameAttempt, [], `one attempt run twice; stored as ${JSON.stringify(rowsOf(db, sameAttempt.slice(0, 10).map(([n]) => n)))}`);
  t.diagnostic(`${[...runs].filter(([, ran]) => ran.length > 1).length} tasks ran twice or more`);
  assert.deepEqual(said.ownExits, [], 'no process exited but by the killer');
  assert.deepEqual(said.errors, [], 'no process logged an error');
  const file = new DatabaseSync(db, { readOnly: true });
  try {
    assert.equal(file.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
  } finally {
    file.close();
  }
});
