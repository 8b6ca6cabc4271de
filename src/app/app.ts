import type { IncomingMessage, ServerResponse } from 'node:http';
import { AfterWork } from '../after/after-work.js';
import { inRequest } from '../after/context.js';
import { AfterScheduler, type AfterStats, type SchedulerOptions } from '../after/scheduler.js';
import { sendRequestStarted, signals } from '../after/signals.js';
import { ServiceUnavailable } from '../http/errors.js';
import { renderError } from '../http/error-response.js';
import { HttpRequest, type RequestSource } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { compose } from '../pipeline/compose.js';
import { isPromise } from '../pipeline/maybe-async.js';
import type { Handler, MaybePromise, Middleware } from '../pipeline/types.js';
import { Router } from '../routing/router.js';
import type { Route } from '../routing/routes.js';
import { send } from '../server/send.js';
import { Waiters } from '../util/waiters.js';

export interface AppOptions {
  routes?: readonly Route[];
  /** Outermost first, as in Django's MIDDLEWARE setting. */
  middleware?: readonly Middleware[];
  /** Shows stacks in 500 responses and logs left-out middleware. Never in production. */
  debug?: boolean;
  /** Request body limit in bytes, for every route without its own. Default 1 MiB. */
  bodyLimit?: number;
  /** The after-response scheduler's limits and error reporting. */
  after?: SchedulerOptions;
  /** A pino logger (or one with the same methods). Default: pino on stdout, see docs. */
  logger?: Logger;
  /**
   * Carry the request through its async call tree (AsyncLocalStorage), so that
   * `after()` works after an `await`. Default true. Off, `after()` works only
   * in synchronous code of the request (before its first `await`), and each
   * request costs less: about 2 µs on Node 20, under 1 µs on Node 24.
   */
  asyncContext?: boolean;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * An application: routes, the middleware onion built once, and the
 * after-response scheduler. Mount `app.handler` on any `node:http` server, or
 * use `serve(app)`.
 */
export class App {
  readonly logger: Logger;
  readonly debug: boolean;
  readonly #router: Router;
  readonly #pipeline: Handler;
  readonly #scheduler: AfterScheduler;
  readonly #afterWork: AfterWork;
  readonly #asyncContext: boolean;
  readonly #requestOptions: { bodyLimit: number; logger: Logger; afterWork: AfterWork };
  #inFlight = 0;
  readonly #idleWaiters = new Waiters();
  /** Set by `server.close()`: responses from now on ask the client to close the connection. */
  closing = false;

  constructor(options: AppOptions = {}) {
    this.logger = options.logger ?? defaultLogger();
    this.debug = options.debug ?? false;
    const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 0) throw new RangeError(`bodyLimit must be a whole number of bytes, got ${bodyLimit}`);
    this.#router = new Router(options.routes ?? []);
    this.#asyncContext = options.asyncContext ?? true;
    this.#scheduler = new AfterScheduler(options.after ?? {}, this.logger, this.#asyncContext);
    this.#afterWork = new AfterWork(this.#scheduler, this.#requestDone);
    this.#requestOptions = { bodyLimit, logger: this.logger, afterWork: this.#afterWork };
    this.#pipeline = compose(options.middleware ?? [], {
      resolve: (request) => this.#router.resolve(request),
      render: (request, error) => renderError(request, error, this.debug),
      onUnused: (name) => {
        if (this.debug) this.logger.info({ middleware: name }, `MiddlewareNotUsed: ${name} left out of the chain`);
      },
    });
  }

  /** A `node:http` request listener: `http.createServer(app.handler)`. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.#inFlight++;
    const request = new HttpRequest(req, this.#requestOptions);
    let result: MaybePromise<HttpResponse>;
    try {
      result = this.#run(request);
    } catch (error) {
      // Converters catch everything the app throws; this is for Coda's own bugs.
      result = renderError(request, error, this.debug);
    }
    if (isPromise(result)) {
      result.then((response) => this.#send(res, request, response), (error: unknown) => this.#send(res, request, renderError(request, error, this.debug)));
    } else {
      this.#send(res, request, result);
    }
  };

  /** @internal Runs a request through the pipeline, for transports other than a socket. */
  dispatch(source: RequestSource): { request: HttpRequest; response: MaybePromise<HttpResponse> } {
    this.#inFlight++;
    const request = new HttpRequest(source, this.#requestOptions);
    return { request, response: this.#run(request) };
  }

  /** @internal Tells the app a response from `dispatch` is done. */
  get afterWork(): AfterWork {
    return this.#afterWork;
  }

  #run(request: HttpRequest): MaybePromise<HttpResponse> {
    if (!this.#scheduler.admitting) {
      this.#scheduler.countShed();
      return renderError(request, new ServiceUnavailable('the after-response queue is full; retry shortly'), this.debug);
    }
    if (signals.requestStarted.receivers.length > 0) sendRequestStarted(request);
    return inRequest(request, this.#asyncContext, this.#pipeline, request);
  }

  #send(res: ServerResponse, request: HttpRequest, response: HttpResponse): void {
    if (this.closing) res.shouldKeepAlive = false;
    const delivery = this.#afterWork.watch(res, request, response);
    try {
      send(res, response, request, delivery);
    } catch (error) {
      request.log.error({ err: error, method: request.method, path: request.path }, 'could not write the response');
      delivery.error = error;
      res.destroy();
    }
  }

  readonly #requestDone = (): void => {
    if (--this.#inFlight === 0) this.#idleWaiters.wake();
  };

  /** Requests received whose response is not done yet. */
  get requestsInFlight(): number {
    return this.#inFlight;
  }

  /** @internal Resolves when no request is in flight. */
  requestsDone(): Promise<void> {
    return this.#idleWaiters.wait(this.#inFlight === 0);
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
  async settle(): Promise<void> {
    do {
      await this.requestsDone();
      await this.#scheduler.settle();
    } while (this.#inFlight > 0 || !this.#scheduler.idle);
  }

  /** @internal */
  get scheduler(): AfterScheduler {
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
