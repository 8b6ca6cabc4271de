// Shared helpers for the test suites: a real server on a free port, raw
// requests over a socket, and a pino logger that writes to memory.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { after as afterAll, afterEach, before, type TestContext } from 'node:test';
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, serve, type App, type AppOptions, type Logger, type Route, type Server, type ServeOptions } from 'coda-http';

/** Whether a server can listen on `host` here (no IPv6 on some machines). */
export async function canListen(host: string): Promise<boolean> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, host, resolve));
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

/** A loopback port another server holds until the test ends: for what a port in use does. */
export async function takenPort(t: TestContext): Promise<number> {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  return (taken.address() as net.AddressInfo).port;
}

/** Starts `app` on a free loopback port (unless `options.port` says otherwise), without signal handlers. Close it in an `after` hook. */
export function startServer(app: App, options: ServeOptions = {}): Promise<Server> {
  return serve(app, { port: 0, ...options, handleSignals: false });
}

/** An app made from `options`, served on 127.0.0.1 port 0 for one test and closed after it. */
export async function served(t: { after: (fn: () => Promise<unknown>) => void }, options: AppOptions): Promise<{ app: App; url: string; server: Server }> {
  const app = createApp(options);
  const server = await startServer(app);
  t.after(() => server.close({ timeoutMs: 1_000 }));
  return { app, url: server.url, server };
}

/** One log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

/**
 * A pino logger at debug level whose lines land in `lines`, parsed;
 * `logged(matches)` resolves at the first line (so far or to come) that matches.
 */
export function memoryLogger(): { logger: Logger; lines: LogLine[]; logged: (matches: (line: LogLine) => boolean) => Promise<LogLine> } {
  const lines: LogLine[] = [];
  const waiting = new Set<{ matches: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of waiting) if (waiter.matches(line)) { waiting.delete(waiter); waiter.resolve(line); }
      }
      callback();
    },
  });
  const logged = (matches: (line: LogLine) => boolean): Promise<LogLine> =>
    Promise.resolve(lines.find(matches) ?? new Promise<LogLine>((resolve) => waiting.add({ matches, resolve })));
  return { logger: pino({ level: 'debug' }, stream), lines, logged };
}

/**
 * That an outage line's `err`, as pino's standard serializer writes it, says its message and so its cause once
 * (`message`, exactly), and still carries the cause's stack.
 */
export function assertCauseOnce(line: LogLine, message: string): void {
  const err = line['err'] as { type?: string; message?: string; stack?: string } | undefined;
  assert.equal(err?.type, 'StoreUnavailable', `the line's err: ${JSON.stringify(err)}`);
  assert.equal(err.message, message);
  assert.match(err.stack ?? '', /\ncaused by: /, 'the cause\'s stack is in the line');
}

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A response as read off the wire by `rawRequest`. */
export interface RawResponse {
  status: number;
  /** Header lines in order, names lower-cased; repeated headers appear repeatedly. */
  headerList: [string, string][];
  /** The first value of each header. */
  headers: Record<string, string>;
  body: Buffer;
  /** Everything the server sent. */
  raw: Buffer;
}

/** Connects to `server` (on 127.0.0.1) and resolves once the socket is connected. */
export async function connect(server: Pick<Server, 'port'>): Promise<net.Socket> {
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/**
 * Sends `data` as it is over a new connection and reads until the server
 * closes it (send `Connection: close`, or a request the server answers by
 * closing). A reset after the response counts as a close.
 */
export async function rawRequest(server: Server, data: string | Buffer): Promise<RawResponse> {
  const socket = await connect(server);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve, reject) => {
    socket.on('error', (error) => (chunks.length > 0 ? undefined : reject(error)));
    socket.on('close', () => resolve());
  });
  socket.write(data);
  await closed;
  return parseResponse(Buffer.concat(chunks));
}

/** A value no one can read: a Proxy whose `get` and `getPrototypeOf` traps throw (`instanceof`, pino's serializer and `String()` all throw on it). */
export function unreadable(): object {
  return new Proxy({}, {
    get() { throw new Error('get trap'); },
    getPrototypeOf() { throw new Error('prototype trap'); },
  });
}

/** A GET request line and headers, with `Connection: close`, ready for `rawRequest`. */
export function rawGet(target: string, headers: Record<string, string> = {}, method = 'GET'): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Parses one HTTP/1.1 response (fixed-length, chunked or read-to-close). */
export function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(raw.toString('latin1'))}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3})/.exec(statusLine!);
  if (match === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headerList = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of headerList) headers[name] ??= value;
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(match[1]), headerList, headers, body, raw };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** A promise and the function that resolves it (Node 20 has no Promise.withResolvers). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The uncaught exceptions of the process while the test runs (Node reports an
 * EventTarget listener's throw as one, on the next tick): to assert there was none.
 */
export function watchUncaught(t: TestContext): unknown[] {
  const uncaught: unknown[] = [];
  const watch = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on('uncaughtException', watch);
  t.after(() => process.off('uncaughtException', watch));
  return uncaught;
}

/**
 * `GET /slow`, whose after-response task `slow` holds its slot until `release()`:
 * with `after: { concurrency: 1, maxPending: 1 }`, a second request fills the queue.
 */
export function slowRoute(): { route: Route; started: Promise<void>; release: () => void } {
  const gate = deferred();
  const started = deferred();
  const route = get('/slow', () => {
    after(async () => {
      started.resolve();
      await gate.promise;
    }, { name: 'slow' });
    return new HttpResponse('ok');
  });
  return { route, started: started.promise, release: gate.resolve };
}

/** A GET request to `server` that must answer 200 with `body`: the server is alive and well. */
export async function assertServes(server: Server, path: string, body: string): Promise<void> {
  const response = await fetch(server.url + path);
  const text = await response.text();
  if (response.status !== 200 || text !== body) {
    throw new Error(`expected 200 ${JSON.stringify(body)} from ${path}, got ${response.status} ${JSON.stringify(text)}`);
  }
}

/** What `assertAnswer` reads of a response: a fetch `Response` or the test client's. */
interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/**
 * Asserts a response's status, the headers `expected` names (null: absent)
 * and, when given, its body text: one line per case in the error and routing
 * tests, each mismatch naming what differed.
 */
export async function assertAnswer(response: Answer, expected: { status: number; headers?: Record<string, string | null>; text?: string }): Promise<void> {
  assert.equal(response.status, expected.status, 'status');
  for (const [name, value] of Object.entries(expected.headers ?? {})) assert.equal(response.headers.get(name), value, name);
  if (expected.text !== undefined) assert.equal(await response.text(), expected.text, 'body');
}

/**
 * Runs the test file `file` under `node --test` with `args`, `env` added to
 * the environment: how it exited and what it printed (the spec reporter's
 * lines, as Node 22 prints TAP to a pipe). A run still going after a minute is
 * killed, what it started with it.
 */
export async function runTestFile(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  // Not NODE_TEST_CONTEXT: the run is a test runner of its own, not one of this one's files.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  // A process group of its own: a run that hangs is killed whole, well within the calling test's own timeout.
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', '--test', '--test-reporter=spec', ...args, file], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const hung = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null];
  clearTimeout(hung);
  return { code, signal, output };
}

/** A line a fixture printed: a log line, or one of the fixture's own events. */
export type FixtureLine = Record<string, unknown>;

/** A fixture run in a child process (with tsx), its stdout read as JSON lines: the log and the fixture's own events. */
export interface Fixture {
  child: ChildProcess;
  /** Every line so far, parsed. */
  lines: FixtureLine[];
  /** The first line, so far or to come, that `matches`. */
  line(matches: (line: FixtureLine) => boolean): Promise<FixtureLine>;
  /** The exit code (null if killed by a signal). */
  exited: Promise<number | null>;
}

/** Starts `file` (a TypeScript module) in a child process with `args`, logging at info level. */
export function spawnFixture(file: URL, args: string[] = []): Fixture {
  const child = spawn(process.execPath, ['--conditions=coda-source', '--import', 'tsx', file.pathname, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CODA_LOG_LEVEL: 'info' },
  });
  const lines: FixtureLine[] = [];
  const waiting: { matches: (line: FixtureLine) => boolean; resolve: (line: FixtureLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as FixtureLine;
    lines.push(line);
    for (const waiter of waiting.filter((w) => w.matches(line))) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = (matches: (line: FixtureLine) => boolean): Promise<FixtureLine> => {
    const seen = lines.find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => waiting.push({ matches, resolve }));
  };
  return { child, lines, line, exited };
}

/** A server for the tests of one describe block (see `serveForSuite`), and a raw request to it. */
export interface SuiteServer {
  readonly server: Server;
  /** `rawRequest` of `rawGet(target, headers, method)` to the server. */
  raw(target: string, headers?: Record<string, string>, method?: string): Promise<RawResponse>;
}

/**
 * What `start` makes (a server, a child process) for the tests of a file or a
 * describe block: started in a `before` hook, handed to `stop` in an `after`
 * hook. Returns it, once started.
 */
export function started<T>(start: () => Promise<T>, stop: (value: T) => unknown): () => T {
  let value: T | undefined;
  let starting: Promise<T> | undefined;
  let ended = false;
  before(async () => {
    if (!ended) value = await (starting = start());
  });
  // When no test of the file matches --test-name-pattern, Node runs the file's
  // `after` without waiting for its `before`: what is still starting is
  // stopped once up, or it would hold the process open for ever; a `before`
  // reached after that starts nothing. (A start that failed is `before`'s
  // failure, reported there.)
  afterAll(async () => {
    ended = true;
    await starting?.then(stop, () => {});
  });
  return () => value as T;
}

/**
 * A server for `app` for the tests of one describe block: started before
 * them, closed after them, then `cleanup` (a fixture folder's removal) run.
 */
export function serveForSuite(app: App, cleanup: () => void = () => {}): SuiteServer {
  const server = started(() => startServer(app), (server) => server.close({ timeoutMs: 1_000 }));
  afterAll(cleanup);
  return {
    get server() { return server(); },
    raw: (target, headers = {}, method = 'GET') => rawRequest(server(), rawGet(target, headers, method)),
  };
}

/**
 * A server for `app` for the tests of one describe block that send it bad
 * input (see `serveForSuite`), after each one checked to still answer GET /ok
 * with 'ok' and, given the app's log `lines`, to have logged nothing at error level.
 */
export function serveForBadInput(app: App, lines?: LogLine[]): SuiteServer {
  const served = serveForSuite(app);
  afterEach(async () => {
    await assertServes(served.server, '/ok', 'ok');
    if (lines !== undefined) assert.deepEqual(lines.filter((line) => line.level >= LEVEL.error), [], 'bad input is never logged as a server error');
  });
  return served;
}

/** The files under `folder` this process has open (Linux: /proc/self/fd). */
export function openUnder(folder: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(folder)) open.push(target);
    } catch {
      // Closed since the folder was listed.
    }
  }
  return open;
}
