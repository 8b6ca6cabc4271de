/**
 * What every benchmark server shares: the scenarios' constants, argv/env
 * parsing, the after-task counters and the control port that serves them.
 *
 * The counters live on a second listener (the control port), never on the
 * server under test: the measured routes and their middleware stay exactly as
 * the scenario says, and reading the counters adds no after-task of its own.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const SCENARIOS = ['hello', 'stack', 'after-io', 'errors', 'durable'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const FRAMEWORKS = ['node', 'fastify', 'koa', 'express', 'hono', 'coda'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

export const HELLO = 'hello world';
/** The request headers the five stack middlewares read on the way in; each sets the response header of the same name to the value read. */
export const STACK_HEADERS = ['x-m1', 'x-m2', 'x-m3', 'x-m4', 'x-m5'] as const;
/** What a stack middleware echoes when its request header is absent. */
export const MISSING = '-';
/** `errors`: the innermost middleware throws for every tenth request. */
export const ERROR_EVERY = 10;
/** `after-io`: the after task awaits a timer this long. */
export const AFTER_IO_MS = 50;
/** How long the control port waits for pending after tasks before answering anyway. */
const SETTLE_LIMIT_MS = 10_000;

export interface Ready {
  ready: Framework;
  scenario: Scenario;
  port: number;
  control: number;
}

export function isScenario(value: unknown): value is Scenario {
  return typeof value === 'string' && (SCENARIOS as readonly string[]).includes(value);
}

/** `node <server>.js <scenario> [port]`, or SCENARIO and PORT in the environment; port 0 (default) picks a free one. */
export function serverArgs(): { scenario: Scenario; port: number } {
  const scenario = process.argv[2] ?? process.env.SCENARIO;
  if (!isScenario(scenario)) throw new Error(`scenario must be one of ${SCENARIOS.join(', ')}, got ${String(scenario)}`);
  const port = Number(process.argv[3] ?? process.env.PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${String(port)}`);
  return { scenario, port };
}

/** Requests received by the server under test, and after tasks run to their end. */
const counts = { served: 0, after: 0 };
let settleWaiters: (() => void)[] = [];

function afterDone(): void {
  counts.after++;
  if (settleWaiters.length > 0 && counts.after >= counts.served) {
    const waiters = settleWaiters;
    settleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * The one after-response task per request: `stack`, `errors` and `durable`
 * (Coda's alone: a durable task journaled in SQLite) count at once,
 * `after-io` awaits a 50 ms timer first. `undefined` for `hello`.
 */
export function afterTask(scenario: Scenario): (() => void | Promise<void>) | undefined {
  if (scenario === 'hello') return undefined;
  if (scenario === 'after-io') {
    return async () => {
      await sleep(AFTER_IO_MS);
      afterDone();
    };
  }
  return afterDone;
}

let requestsSeen = 0;
/** `errors` only: throws for one request in ten. Call it once per request, from the innermost middleware. */
export function maybeFail(): void {
  if (++requestsSeen % ERROR_EVERY === 0) throw new Error('boom: one request in ten fails');
}

/** Listens on 127.0.0.1; resolves with the port. */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Counts the requests `server` receives, opens the control port (GET
 * /__count answers `{ served, after }` once every after task due has run, or
 * after 10 s), exits on SIGTERM/SIGINT (so `--cpu-prof` can write its
 * profile), and prints the ready line the driver waits for.
 */
export async function ready(framework: Framework, scenario: Scenario, server: Server): Promise<void> {
  server.on('request', () => {
    counts.served++;
  });
  const hasAfter = scenario !== 'hello';
  const control = createServer((req, res) => {
    if (req.url !== '/__count') {
      res.writeHead(404).end();
      return;
    }
    let answered = false;
    const answer = (): void => {
      if (answered) return;
      answered = true;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    };
    if (!hasAfter || counts.after >= counts.served) return answer();
    const limit = setTimeout(answer, SETTLE_LIMIT_MS);
    settleWaiters.push(() => {
      clearTimeout(limit);
      answer();
    });
  });
  const controlPort = await listen(control, 0);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
  const line: Ready = { ready: framework, scenario, port: (server.address() as AddressInfo).port, control: controlPort };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
