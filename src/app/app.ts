import type { IncomingMessage, ServerResponse } from 'node:http';
import { inJob } from '../after/context.js';
import { Exchange, type ExchangeHost } from '../after/exchange.js';
import type { TaskRecord } from '../after/reporting.js';
import { AfterScheduler, type AfterStats } from '../after/scheduler.js';
import { createSignals, finishedEntries, sendRequestStarted, signals, type Signals } from '../after/signals.js';
import { bodySettings, DEFAULT_BODY_SETTINGS } from '../http/body-options.js';
import { ServiceUnavailable } from '../http/errors.js';
import { renderError } from '../http/error-response.js';
import type { RequestOptions, RequestSource } from '../http/request.js';
import { StreamingResponse, type HttpResponse } from '../http/response.js';
import type { StoredTask } from '../durable/store.js';
import { Tasks } from '../durable/tasks.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { compose } from '../pipeline/compose.js';
import type { Handler, MaybePromise } from '../pipeline/types.js';
import { Router } from '../routing/router.js';
import type { Route } from '../routing/routes.js';
import { kAbandon, kAbandonNow, kCloseTasks, kClosing, kClosingSignal, kDispatch, kExchange, kJournal, kMount, kRequestsDone, kScheduler, kSettle, kTaskEntries } from '../symbols.js';
import { send } from '../transport/node/send.js';
import { watch } from '../transport/node/watch.js';
import { replaceRefused } from '../transport/refused.js';
import { isPromise } from '../util/is-promise.js';
import { LinkedList } from '../util/linked-list.js';
import { Waiters } from '../util/waiters.js';
import { checkAppOptions, type AppOptions } from './app-options.js';

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** @internal A route that observes the app it is mounted in (the dashboard's): called once the app is built. */
export interface MountableRoute extends Route {
  readonly [kMount]?: (app: App) => void;
}

/**
 * An application: routes, the middleware onion built once, and the
 * after-response scheduler. Mount `app.handler` on any `node:http` server, or
 * use `serve(app)`.
 */
export class App {
  readonly logger: Logger;
  readonly debug: boolean;
  /**
   * This app's `requestStarted` and `requestFinished`: receivers connected here
   * hear this app's requests only (the exported `signals` hear every app's).
   */
  readonly signals: Signals = createSignals();
  /** The app's durable tasks: `enqueue()`, and `stats()`, `list()`, `get()`, `retry()`, `discard()` on the store. */
  readonly tasks: Tasks;
  readonly #router: Router;
  readonly #pipeline: Handler;
  readonly #scheduler: AfterScheduler;
  readonly #asyncContext: boolean;
  readonly #host: ExchangeHost;
  /** Exchanges whose response is not done yet. */
  readonly #inFlight = new LinkedList<Exchange>();
  readonly #idleWaiters = new Waiters();
  #closing = false;
  readonly #closingController = new AbortController();

  constructor(options: AppOptions = {}) {
    checkAppOptions(options);
    this.logger = options.logger ?? defaultLogger();
    this.debug = options.debug ?? false;
    const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 0) throw new RangeError(`bodyLimit must be a whole number of bytes, got ${bodyLimit}`);
    this.#router = new Router(options.routes ?? []);
    this.#asyncContext = options.asyncContext ?? true;
    this.#scheduler = new AfterScheduler(options.after ?? {}, this.logger, this.#asyncContext);
    this.tasks = new Tasks(options.tasks ?? {}, this.logger);
    const requestOptions: RequestOptions = { bodyLimit, logger: this.logger, body: options.body === undefined ? DEFAULT_BODY_SETTINGS : bodySettings(options.body) };
    this.#host = {
      scheduler: this.#scheduler,
      requestOptions,
      finishedReceivers: () => finishedEntries(this.signals),
      finished: this.#exchangeFinished,
      lost: (record) => this.#lost(record),
      registerTask: (exchange, entry) => this.tasks.register(exchange, entry),
    };
    this.#pipeline = compose(options.middleware ?? [], {
      resolve: (request) => this.#router.resolve(request),
      render: (request, error, culprit) => renderError(request, error, this.debug, culprit),
      enter: (request, entry) => (request[kExchange] as Exchange).enter(entry),
      onUnused: (name, error) => {
        // Django logs the exception's message too: it says why the middleware left.
        const why = error.message === '' ? '' : `: ${error.message}`;
        if (this.debug) this.logger.info({ middleware: name, reason: error.message }, `MiddlewareNotUsed: ${name} left out of the chain${why}`);
      },
    });
    for (const route of options.routes ?? []) (route as MountableRoute)[kMount]?.(this);
  }

  /** @internal Set by `server.close()`: responses from now on ask the client to close the connection. */
  get [kClosing](): boolean {
    return this.#closing;
  }

  set [kClosing](closing: boolean) {
    this.#closing = closing;
    if (closing) this.#closingController.abort();
  }

  /** @internal Aborts when `server.close()` begins. */
  get [kClosingSignal](): AbortSignal {
    return this.#closingController.signal;
  }

  /** A `node:http` request listener: `http.createServer(app.handler)`. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    const exchange = this.#receive(req);
    let result: MaybePromise<HttpResponse>;
    try {
      result = this.#run(exchange);
    } catch (error) {
      // Converters catch everything the app throws; this is for Coda's own bugs.
      result = renderError(exchange.request, error, this.debug);
    }
    if (isPromise(result)) {
      result.then(
        (response) => this.#respond(res, exchange, response),
        (error: unknown) => this.#respond(res, exchange, renderError(exchange.request, error, this.debug)),
      );
    } else {
      this.#respond(res, exchange, result);
    }
  };

  /**
   * @internal Runs a request that did not come over a socket; the caller sends
   * the response (in the request's context: `inJob` with `asyncContext`) and
   * finishes the exchange.
   */
  [kDispatch](source: RequestSource): { exchange: Exchange; response: MaybePromise<HttpResponse>; asyncContext: boolean } {
    const exchange = this.#receive(source);
    return { exchange, response: this.#run(exchange), asyncContext: this.#asyncContext };
  }

  #receive(source: IncomingMessage | RequestSource): Exchange {
    const exchange = new Exchange(this.#host, source);
    this.#inFlight.push(exchange);
    return exchange;
  }

  #run(exchange: Exchange): MaybePromise<HttpResponse> {
    const { request } = exchange;
    if (!this.#scheduler.admitting) {
      this.#scheduler.countShed();
      exchange.refuse();
      return renderError(request, new ServiceUnavailable('the after-response queue is full; retry shortly'), this.debug);
    }
    if (this.signals.requestStarted.receivers.length > 0 || signals.requestStarted.receivers.length > 0) sendRequestStarted(request, this.signals);
    return inJob(exchange, this.#asyncContext, this.#pipeline, request);
  }

  #respond(res: ServerResponse, exchange: Exchange, response: HttpResponse): void {
    const ready = this[kJournal](exchange, response);
    if (isPromise(ready)) ready.then((answer) => this.#send(res, exchange, answer));
    else this.#send(res, exchange, ready);
  }

  /**
   * @internal The response to send: this one once the exchange's durable
   * tasks are journaled (its first byte waits for the store), or a 503 that
   * names the store when the store could not take them.
   */
  [kJournal](exchange: Exchange, response: HttpResponse): MaybePromise<HttpResponse> {
    const { request } = exchange;
    try {
      const entries = response[kTaskEntries];
      if (entries !== undefined) for (const entry of entries) void exchange.addTask(entry).catch(() => {});
    } catch (error) {
      response = renderError(request, error, this.debug);
    }
    const journaled = exchange.journaled;
    if (journaled === undefined) return response;
    return journaled.then(() => response, (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      return renderError(request, new ServiceUnavailable(`the request's durable tasks could not be journaled: ${message}`), this.debug);
    });
  }

  #send(res: ServerResponse, exchange: Exchange, response: HttpResponse): void {
    exchange.response = response;
    if (this[kClosing]) res.shouldKeepAlive = false;
    watch(res, exchange);
    try {
      // A streamed body is produced while it is sent: in the request's async context, so after() works there.
      if (response instanceof StreamingResponse) inJob(exchange, this.#asyncContext, () => send(res, exchange), undefined);
      else send(res, exchange);
    } catch (error) {
      if (!res.headersSent) {
        // Refused before any byte was written: a 500 instead.
        replaceRefused(exchange, error, this.debug);
        send(res, exchange);
        return;
      }
      const { request } = exchange;
      request.log.error({ err: error, method: request.method, path: request.path }, 'could not write the response');
      exchange.error = error;
      res.destroy();
    }
  }

  readonly #exchangeFinished = (exchange: Exchange): void => {
    this.#inFlight.remove(exchange);
    if (this.#inFlight.size === 0) this.#idleWaiters.wake();
  };

  #lost(record: TaskRecord): void {
    this.logger.warn(record, `after-response task ${record.name} registered after shutdown gave up on its request: not run`);
  }

  /** Requests received whose response is not done yet. */
  get requestsInFlight(): number {
    return this.#inFlight.size;
  }

  /** @internal Resolves when no request is in flight. */
  [kRequestsDone](): Promise<void> {
    return this.#idleWaiters.wait(this.#inFlight.size === 0);
  }

  /**
   * @internal Shutdown's deadline has passed: the requests still in flight give
   * up the tasks they registered, then the scheduler aborts and gives up the
   * rest. Resolves with every task given up.
   */
  async [kAbandon](deadline: number): Promise<TaskRecord[]> {
    const given = this.#abandonInFlight();
    return given.concat(await this.#scheduler.drain(deadline));
  }

  /**
   * @internal The process exits now (a second signal): gives up the tasks of
   * the requests in flight, aborts the running tasks and gives up the queued
   * ones. Returns every task given up.
   */
  [kAbandonNow](): TaskRecord[] {
    return this.#abandonInFlight().concat(this.#scheduler.abandon());
  }

  #abandonInFlight(): TaskRecord[] {
    const given: TaskRecord[] = [];
    for (const exchange of this.#inFlight) given.push(...exchange.abandon());
    return given;
  }

  /**
   * The path of a named route.
   *
   * @example
   * ```ts
   * app.reverse('note', { id: 7 }); // '/notes/7'
   * ```
   */
  reverse(name: string, params?: Record<string, string | number>): string {
    return this.#router.reverse(name, params);
  }

  /** The after-response counters: pending, running, completed, failed, timedOut, shed, skipped. */
  afterStats(): AfterStats {
    return this.#scheduler.stats();
  }

  /**
   * Resolves when no request is in flight and no after-response task is
   * pending or running: a test that read a response over real HTTP can await
   * this without racing the server's `'finish'`.
   */
  settle(): Promise<void> {
    return this[kSettle](() => false);
  }

  /** @internal `settle()`, moving a test's clock to each delayed durable task's time with `advance` (false: it cannot). */
  async [kSettle](advance: (to: number) => boolean): Promise<void> {
    do {
      await this[kRequestsDone]();
      await this.#scheduler.whenIdle();
      await this.tasks.settle(advance);
    } while (this.#inFlight.size > 0 || !this.#scheduler.idle || !this.tasks.idle);
  }

  /** @internal Shutdown of the durable tasks' runner: running attempts finish until `deadline`, the rest go back to the store. */
  [kCloseTasks](deadline: number): Promise<StoredTask[]> {
    return this.tasks.close(deadline);
  }

  /** @internal */
  get [kScheduler](): AfterScheduler {
    return this.#scheduler;
  }
}

/**
 * Builds an application.
 *
 * @example
 * ```ts
 * const app = createApp({
 *   routes: [get('/users/:id', showUser, { name: 'user' })],
 *   middleware: [timing, auth],
 * });
 * await serve(app, { port: 3000 });
 * ```
 */
export function createApp(options?: AppOptions): App {
  return new App(options);
}

