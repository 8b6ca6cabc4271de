import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { App } from '../app/app.js';
import { checkApp } from '../app/check-app.js';
import type { TaskRecord } from '../after/reporting.js';
import { serve, type Server } from '../server/serve.js';
import { sqliteStore } from '../durable/sqlite-store.js';
import { kCloseTasks, kGovern, kScheduler, kServerClosed, kSettle, kUnfinished } from '../symbols.js';
import { untilDeadline } from '../util/deadline.js';
import { checkBoolean, checkKeys, checkMs } from '../util/options.js';
import { CookieJar } from './cookie-jar.js';
import { inProcess, inProcessStream } from './in-process.js';
import { overSocket, overSocketStream } from './over-socket.js';
import { frameBody, requestBody, requestHeaders, requestMethod, requestTarget, type TestRequestOptions } from './request-options.js';
import type { TestResponse } from './test-response.js';
import { onOver, type TestStreamResponse } from './test-stream.js';

export interface TestClientOptions {
  /**
   * `'in-process'` (default) runs requests through the app without a socket;
   * `'socket'` starts a real server on a free loopback port and sends each
   * request with node:http, with the headers given and no others. Either
   * answers as `serve()` with its defaults: to test other server options,
   * serve the app with them yourself.
   */
  transport?: 'in-process' | 'socket';
  /**
   * Where the app's durable tasks go: `'memory'` (default) is a fresh
   * in-memory SQLite store (the same code as on a file) with a clock that
   * `settle()` moves forward to each retry or delay, so tests never wait;
   * `'app'` keeps the store the app was given.
   */
  tasks?: 'memory' | 'app';
  /**
   * Headers sent with every request (a `host` an app's `allowedHosts`
   * accepts, a token); a request's own header of the same name wins.
   */
  headers?: Record<string, string>;
  /**
   * `true` (default): the client keeps the cookies the app sets and sends
   * them back, by path, until deleted or expired, as a browser does (a
   * request's own `cookie` header is sent instead); `false` keeps none.
   */
  cookies?: boolean;
}

export interface SettleOptions {
  /** How long `settle()` may wait, in milliseconds (default 10,000): then it rejects, naming what is not done. */
  timeoutMs?: number;
}

/** A request as `#prepare()` makes it: checked, framed, its cookies added. */
interface Prepared {
  where: string;
  timeoutMs: number;
  target: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const SETTLE_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** The test client's clock: still, until `settle()` moves it to the next delayed task's time. */
class TestClock {
  #now = Date.now();
  now(): number {
    return this.#now;
  }
  advanceTo(time: number): boolean {
    this.#now = Math.max(this.#now, time);
    return true;
  }
}

/** Each app's test clock: the one its durable tasks run on, which the clients open on it at once share. */
const CLOCKS = new WeakMap<App, TestClock>();
/** Each app's clients not closed yet: they share its durable tasks, which only the last one's close() stops. */
const OPEN = new WeakMap<App, number>();

/**
 * A client for tests. Each request resolves as soon as the response is
 * complete; `settle()` then awaits the after-response tasks, and `tasks` says
 * how each ended. No test needs to sleep.
 *
 * @example
 * ```ts
 * const client = createTestClient(app);
 * const res = await client.post('/notes', { json: { text: 'hi' } });
 * assert.equal(res.status, 201);
 * await client.settle();
 * assert.deepEqual(client.tasks.map((t) => t.state), ['completed']);
 * ```
 */
export class TestClient {
  readonly #app: App;
  readonly #transport: 'in-process' | 'socket';
  readonly #headers: Record<string, string>;
  readonly #jar: CookieJar | undefined;
  #server: Promise<Server> | undefined;
  #closed: Promise<void> | undefined;
  readonly #tasks: TaskRecord[] = [];
  readonly #unobserve: () => void;
  readonly #unobserveDurable: () => void;
  readonly #clock: TestClock;
  /** The server's connections (its own socket's), by the client's port. */
  readonly #accepted = new Map<number, Socket>();
  /** How many responses the server has under way on each of its connections. */
  readonly #answering = new WeakMap<Socket, number>();
  /** The responses `stream()` made whose body is not over yet: `close()` closes them. */
  readonly #streams = new Set<TestStreamResponse>();

  constructor(app: App, options: TestClientOptions = {}) {
    checkApp('createTestClient()', app);
    checkKeys('createTestClient()', options, ['transport', 'tasks', 'headers', 'cookies']);
    const tasks = oneOf('tasks', options.tasks ?? 'memory', ['memory', 'app']);
    this.#app = app;
    this.#transport = oneOf('transport', options.transport ?? 'in-process', ['in-process', 'socket']);
    this.#headers = options.headers ?? {};
    this.#jar = checkBoolean('createTestClient() cookies', options.cookies ?? true) ? new CookieJar() : undefined;
    if (tasks === 'memory' && app.tasks.defined) {
      const clock = new TestClock();
      if (app.tasks.useForTests(sqliteStore({ path: ':memory:' }), clock)) CLOCKS.set(app, clock);
    }
    this.#clock = CLOCKS.get(app) ?? new TestClock();
    // An in-process client uses the app as a server does: a socket client's server closing meanwhile must not shut the app down under it.
    // No start-up here: a span active where the test made the client is the parent of the requests made inside it.
    if (this.#transport === 'in-process') app[kGovern](this, false);
    OPEN.set(app, (OPEN.get(app) ?? 0) + 1);
    // A test serves the app: its tasks run here, enqueued ones included (on the app's store too after a client before closed it).
    app.tasks.reopen();
    app.tasks.runHere();
    this.#unobserve = app[kScheduler].observe((record) => this.#tasks.push(record));
    this.#unobserveDurable = app.tasks.defined
      ? app.tasks.observe(({ id, name, requestId, attempt, state, error, waitMs, runMs }) => {
        const record: TaskRecord = { name, requestId: requestId ?? '', state, id, attempt, waitMs, runMs };
        if (error !== undefined) record.error = error;
        this.#tasks.push(record);
      })
      : () => {};
  }

  /** How every after-response task and durable attempt of this app ended since the client was made, in order. */
  get tasks(): readonly TaskRecord[] {
    return this.#tasks;
  }

  /**
   * The base URL of the real server (socket transport only; starts it). An
   * in-process client has no server: it throws a TypeError saying so.
   */
  async url(): Promise<string> {
    this.#checkOpen('client.url()');
    if (this.#transport === 'in-process') throw new TypeError("client.url(): an in-process client has no server to send to; createTestClient(app, { transport: 'socket' }) serves the app on a loopback port");
    return (await this.#serve()).url;
  }

  get(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('GET', path, options);
  }
  head(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('HEAD', path, options);
  }
  post(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('POST', path, options);
  }
  put(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('PUT', path, options);
  }
  patch(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('PATCH', path, options);
  }
  delete(path: string, options?: TestRequestOptions): Promise<TestResponse> {
    return this.request('DELETE', path, options);
  }

  async request(verb: string, path: string, options: TestRequestOptions = {}): Promise<TestResponse> {
    const { where, timeoutMs, target, method, headers, body } = await this.#prepare(verb, path, options);
    const late = (): Error => new Error(`${where}: no complete response after ${timeoutMs} ms (a view that does not answer, or a body that does not end); give the request a longer timeoutMs if it needs one`);
    const response = await timed(timeoutMs, late, async (signal) => this.#transport === 'socket'
      ? overSocket(where, (await this.#serve()).url, method, target, headers, body, signal)
      : inProcess(this.#app, method, target, headers, body, signal));
    this.#jar?.store(response.headers.getSetCookie(), target);
    return response;
  }

  /**
   * A request whose response is read as it arrives (server-sent events, a
   * long download), as httpx's `client.stream()`: it resolves with the status
   * and headers once the head is sent (a stream's with its first chunk, as a
   * server sends it), the body then read chunk by chunk, or line by line.
   * `timeoutMs` bounds the wait for the head only: a body still read is not
   * cut. Stopping early (`break`, `res.close()`, the end of an `await using`
   * block) is the client going away, on either transport: the app's stream
   * is let go of and its outcome is aborted. `client.close()` closes every
   * stream still open; one nobody reads does not keep the process alive.
   *
   * @example
   * ```ts
   * await using res = await client.stream('GET', '/events');
   * for await (const line of res.lines()) {
   *   if (line === 'data: 3') break;   // the view's generator runs its finally
   * }
   * ```
   */
  async stream(verb: string, path: string, options: TestRequestOptions = {}): Promise<TestStreamResponse> {
    const { where, timeoutMs, target, method, headers, body } = await this.#prepare(verb, path, options);
    const late = (): Error => new Error(`${where}: no response head after ${timeoutMs} ms (a view that does not answer, or a stream whose first chunk does not come); give the request a longer timeoutMs if it needs one`);
    const closing = new AbortController();
    const stop = (reason: Error): void => closing.abort(reason);
    const response = await timed(timeoutMs, late, async (timeout) => {
      const signal = AbortSignal.any([timeout, closing.signal]);
      return this.#transport === 'socket'
        ? overSocketStream(where, (await this.#serve()).url, method, target, headers, body, signal, stop, (port) => this.#holdUntilSeen(port))
        : inProcessStream(this.#app, method, target, headers, body, signal, stop);
    });
    this.#jar?.store(response.headers.getSetCookie(), target);
    this.#streams.add(response);
    onOver(response, () => this.#streams.delete(response));
    return response;
  }

  /** A request's options checked and its head and body made, as every transport sends them. */
  async #prepare(verb: string, path: string, options: TestRequestOptions): Promise<Prepared> {
    const method = requestMethod(verb);
    const where = `client ${method} ${path}`;
    this.#checkOpen(where);
    checkKeys(where, options, ['headers', 'body', 'json', 'form', 'timeoutMs']);
    const timeoutMs = checkMs(`${where} timeoutMs`, options.timeoutMs ?? REQUEST_TIMEOUT_MS);
    const target = requestTarget(where, path);
    const headers = requestHeaders(where, this.#headers, options.headers ?? {});
    const encoded = await requestBody(where, options);
    if (encoded?.type !== undefined) headers['content-type'] ??= encoded.type;
    const body = frameBody(where, method, headers, encoded?.bytes);
    const kept = this.#jar?.header(target);
    if (kept !== undefined) headers['cookie'] ??= kept;
    return { where, timeoutMs, target, method, headers, body };
  }

  /**
   * Resolves once every response is done, no async `requestStarted`
   * receiver is at work, no after-response task is pending or running (nor
   * its failure still being reported by an async `after.onError`), and no
   * durable task is held, due or running: with the
   * default in-memory store, the clock moves to each retry's or delay's time
   * instead of waiting for it; attempts past their timeout that ignore their
   * signal are waited for while they hold every slot that due tasks need.
   * Rejects after `timeoutMs` (default 10 s), naming what it still waits for: a task that never ends is found long
   * before its own timeout (`after.timeoutMs`, 30 s by default) or the test
   * runner's, which would name nothing.
   */
  async settle(options: SettleOptions = {}): Promise<void> {
    this.#checkOpen('client.settle()');
    checkKeys('client.settle()', options, ['timeoutMs']);
    const timeoutMs = checkMs('client.settle() timeoutMs', options.timeoutMs ?? SETTLE_TIMEOUT_MS);
    if (await untilDeadline(this.#app[kSettle]((time) => this.#clock.advanceTo(time)), performance.now() + timeoutMs)) return;
    const waiting = this.#app[kUnfinished]();
    throw new Error(`client.settle(): not settled after ${timeoutMs} ms; still waiting for:\n${waiting.map((line) => `  ${line}`).join('\n')}`);
  }

  /**
   * Stops the real server, if one was started, and the app's durable tasks unless another client of the app is still
   * open (an open in-process client counts as one of the app's servers); stops recording tasks. Once: the client
   * takes no more requests.
   */
  close(): Promise<void> {
    return (this.#closed ??= this.#close());
  }

  async #close(): Promise<void> {
    // A stream still open is a client still connected: the server's close would wait for it.
    await Promise.all([...this.#streams].map((stream) => stream.close()));
    this.#unobserve();
    this.#unobserveDurable();
    const others = OPEN.get(this.#app)! - 1;
    OPEN.set(this.#app, others);
    // The app's servers left: serve()'s or attach()'s (an in-process client counts as one).
    const servers = this.#transport === 'in-process' ? this.#app[kServerClosed](this) : 0;
    if (this.#server !== undefined) await (await this.#server).close({ timeoutMs: 1_000 });
    // Clients still open on the app, or a server serving it, use its tasks: the last of them stops them.
    else if (others === 0 && servers === 0) await this.#app[kCloseTasks](performance.now() + 1_000);
  }

  /** Refuses what a closed client cannot do: it records no task, and its server (if any) is gone. */
  #checkOpen(where: string): void {
    if (this.#closed !== undefined) throw new Error(`${where}: the client is closed (close(), or the end of its \`await using\` block); make another`);
  }

  /** `await using client = createTestClient(app)`: closed at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #serve(): Promise<Server> {
    return (this.#server ??= serve(this.#app, { port: 0, host: '127.0.0.1', handleSignals: false }).then((server) => {
      // A test that forgets close() must not hang its process: the server and its connections keep nothing alive.
      server.server.unref();
      server.server.on('connection', (socket: Socket) => {
        socket.unref();
        const port = socket.remotePort!;
        this.#accepted.set(port, socket);
        socket.once('close', () => this.#accepted.delete(port));
      });
      server.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
        const { socket } = request;
        this.#answering.set(socket, (this.#answering.get(socket) ?? 0) + 1);
        response.once('close', () => {
          const left = this.#answering.get(socket)! - 1;
          this.#answering.set(socket, left);
          if (left === 0) socket.unref();
        });
      });
      return server;
    }));
  }

  /**
   * The client left a streamed response on the connection from `port` before
   * its end: the server's side of it is kept alive until the server is done
   * with what it was answering there (its source let go of, its outcome
   * told), which a test awaits. Unreferenced, the process could exit first,
   * with nothing of the client's left to wait on (Node 22 did).
   */
  #holdUntilSeen(port: number): void {
    const socket = this.#accepted.get(port);
    if (socket !== undefined && (this.#answering.get(socket) ?? 0) > 0) socket.ref();
  }
}

/** `work`'s result, or `late()` once `ms` have passed, its signal then aborted; a failure of `work` after that is no one's. */
async function timed<T>(ms: number, late: () => Error, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(late());
    }, ms);
  });
  const running = work(controller.signal);
  running.catch(() => {});
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A client option's value, one of `choices` (plain JavaScript may pass anything). */
function oneOf<const T extends string>(option: string, value: T, choices: readonly T[]): T {
  if (!choices.includes(value)) throw new TypeError(`createTestClient(): ${option} must be ${choices.map((choice) => `'${choice}'`).join(' or ')}, got ${JSON.stringify(value)}`);
  return value;
}

/** A test client for `app`; see `TestClient`. */
export function createTestClient(app: App, options?: TestClientOptions): TestClient {
  return new TestClient(app, options);
}
