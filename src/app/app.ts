import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { enterJob, inJob } from '../after/context.js';
import { Exchange, type ExchangeHost } from '../after/exchange.js';
import type { TaskRecord } from '../after/reporting.js';
import { AfterScheduler, type AfterStats } from '../after/scheduler.js';
import { createSignals, finishedEntries, sendRequestStarted, signals, type Signals } from '../after/signals.js';
import { StartedReceivers } from '../after/started-receivers.js';
import { bodySettings, DEFAULT_BODY_SETTINGS } from '../http/body-options.js';
import { copyResponse } from '../http/response-copy.js';
import { compileAllowedHosts, disallowedHost, type HostCheck } from '../http/allowed-hosts.js';
import { compileTrust } from '../http/client-address.js';
import { hostFieldProblem } from '../http/host-field.js';
import { setCookieHeaders } from '../http/cookies.js';
import { signerFor, type Signer } from '../http/signing.js';
import { BadRequest, ServiceUnavailable } from '../http/errors.js';
import { renderError } from '../http/error-response.js';
import { FileResponse } from '../http/file-response.js';
import type { HttpRequest, RequestOptions, RequestSource } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { StreamingResponse } from '../http/streaming-response.js';
import type { StoredTask } from '../durable/store.js';
import { Tasks } from '../durable/tasks.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { writeSafely } from '../log/safe-log.js';
import type { Metrics } from '../observe/metrics.js';
import { durableCounts } from '../observe/metrics-source.js';
import { Observer, type RequestListener } from '../observe/observer.js';
import type { Refusal } from '../observe/refusal.js';
import type { AdoptedSpan } from '../observe/adopted-span.js';
import { giveAdoptedSpan } from '../observe/tracing.js';
import { compose, type ComposeOptions } from '../pipeline/compose.js';
import { errorPagesRenderer } from '../pipeline/error-pages.js';
import type { Handler, MaybePromise } from '../pipeline/types.js';
import { flattenRoutes } from '../routing/include.js';
import { Router } from '../routing/router.js';
import type { Route } from '../routing/routes.js';
import { kAbandonNow, kAdapted, kAdopt, kAnswerRequest, kAdoptFetch, kAnswerFetch, kCloseTasks, kClosingSignal, kCookies, kDispatch, kExchange, kGovern, kHostField, kJournal, kListen, kMetrics, kMount, kOnServerClosing, kRefused, kRequestsDone, kRequestsOn, kScheduler, kServe, kServeHttp1, kServerClosed, kServerClosing, kTimedOut, kSetTrusted, kSettle, kShutDown, kTaskEntries, kUnfinished } from '../symbols.js';
import { releaseStream, releaseUnsent } from '../transport/body.js';
import { fetchHead, fetchSource, followClient } from '../transport/fetch/request.js';
import { webResponse } from '../transport/fetch/response.js';
import { AdoptedExchange } from '../transport/node/adopt.js';
import { closingServer, isClosing, onClosingServer, serverOf } from '../transport/node/closing-servers.js';
import { hostProblem } from '../transport/node/host-header.js';
import { authorityProblem, http2Source } from '../transport/node/http2.js';
import { lingerOnClose } from '../transport/node/linger.js';
import type { NodeResponse } from '../transport/node/response.js';
import { send } from '../transport/node/send.js';
import { watch } from '../transport/node/watch.js';
import { givenUpOutcome } from '../transport/outcome.js';
import { replaceRefused, unjournaled } from '../transport/refused.js';
import { describe } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import { LinkedList } from '../util/linked-list.js';
import { checkAmount } from '../util/options.js';
import { Waiters } from '../util/waiters.js';
import { checkAppOptions, type AppOptions } from './app-options.js';

const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Why a response ended unfinished when its server's shutdown timeout cut its connection (the access log's `cutOff`). */
const SHUTDOWN_TIMED_OUT = 'the shutdown timeout passed';

/** @internal A route that observes the app it is mounted in (the dashboard's): called once the app is built, with its whole path (an include() prefix in front). */
export interface MountableRoute extends Route {
  readonly [kMount]?: (app: App, path: string) => void;
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
  /** Async `requestStarted` receivers still at work: settle() waits for them. */
  readonly #startedReceivers: StartedReceivers;
  readonly #asyncContext: boolean;
  readonly #host: ExchangeHost;
  readonly #signer: Signer | undefined;
  readonly #allowedHosts: HostCheck | undefined;
  /** Spans, metrics, access log, request id header, listeners: always made, used by requests only while `active`. */
  readonly #observing: Observer;
  /** `#observing` while it is active, else undefined: what a request checks. */
  #observer: Observer | undefined;
  /** Exchanges whose response is not done yet. */
  readonly #inFlight = new LinkedList<Exchange>();
  readonly #idleWaiters = new Waiters();
  /** Woken as each request ends while a server closes (see `kRequestsDone`). */
  readonly #finishWaiters = new Waiters();
  /** The servers `serve()` and `attach()` put under this app's shutdown, until each has closed. */
  readonly #servers = new Set<object>();
  /** One of the app's servers has begun to close: its responses may have to ask for their connection's close (see `#send`). */
  #closing = false;
  /** Aborted once every server the app is on has begun to close; a server put on the app afterwards gets a fresh one (see `kGovern`). */
  #closingController = new AbortController();
  /** Told each time one of the app's servers begins to close (see `kOnServerClosing`). */
  readonly #closingListeners: ServerClosingListener[] = [];
  /** The app's shutdown (`kShutDown`): under way, or done (it may be served again). */
  #shutdown: 'draining' | 'done' | undefined;

  constructor(options: AppOptions = {}) {
    checkAppOptions(options);
    this.logger = options.logger ?? defaultLogger();
    this.debug = options.debug ?? false;
    const bodyLimit = checkAmount('createApp(): bodyLimit', options.bodyLimit ?? DEFAULT_BODY_LIMIT, 'bytes');
    this.#asyncContext = options.asyncContext ?? true;
    const adapted = options[kAdapted];
    this.#observing = new Observer(options, this.logger, {
      after: () => this.#scheduler.stats(),
      durable: () => this.tasks.defined ? this.tasks.stats().then(durableCounts) : undefined,
    }, adapted ?? 'createApp()', adapted === undefined);
    this.#observer = this.#observing.active ? this.#observing : undefined;
    const tracing = this.#observer?.tracing;
    this.#scheduler = new AfterScheduler(options.after ?? {}, this.logger, this.#asyncContext, tracing);
    this.#startedReceivers = new StartedReceivers(this.#scheduler.timeoutMs);
    this.tasks = new Tasks(options.tasks ?? {}, this.logger, tracing);
    const metrics = this.#observer?.metrics;
    if (metrics !== undefined) {
      this.#scheduler.observe((record) => metrics.task('after', record));
      this.tasks.observe((record) => metrics.task('durable', record));
    }
    this.#signer = signerFor(options.secret, (message) => writeSafely(this.logger, 'warn', {}, message));
    this.#allowedHosts = compileAllowedHosts(options.allowedHosts);
    const requestOptions: RequestOptions = {
      bodyLimit,
      // The router is made below; a body is read only once requests come.
      routeBodyLimit: (method, path) => this.#router.bodyLimitOf(method, path),
      logger: this.logger,
      body: options.body === undefined ? DEFAULT_BODY_SETTINGS : bodySettings(options.body),
      signer: this.#signer,
      trust: compileTrust(options.trustProxy),
      // The id a proxy sends in the header the app echoes is the request's, as Fastify reads its requestIdHeader.
      requestIdHeader: this.#observing.requestIdHeader,
    };
    this.#host = {
      scheduler: this.#scheduler,
      requestOptions,
      finishedReceivers: () => finishedEntries(this.signals),
      finished: this.#exchangeFinished,
      lost: (record) => this.#lost(record),
      payloadLimit: this.tasks.payloadLimit,
      registerTask: (exchange, entry) => this.tasks.register(exchange, entry),
    };
    const layers: Omit<ComposeOptions, 'resolve'> = {
      render: options.errorPages === undefined
        ? (request, error, culprit) => renderError(request, error, this.debug, culprit)
        : errorPagesRenderer(options.errorPages, this.debug),
      enter: (request, entry) => (request[kExchange] as Exchange).enter(entry),
      onUnused: (name, error) => {
        // Django logs the exception's message too: it says why the middleware left.
        const why = error.message === '' ? '' : `: ${error.message}`;
        if (this.debug) this.logger.info({ middleware: name, reason: error.message }, `MiddlewareNotUsed: ${name} left out of the chain${why}`);
      },
    };
    // A route group's middleware is an onion of its own, built by the same compose(), around its views.
    const routes = flattenRoutes(options.routes ?? []);
    this.#router = new Router(routes, {
      compose: (middleware, resolve) => compose(middleware, { ...layers, resolve }),
      appendSlash: options.appendSlash ?? false,
    });
    this.#pipeline = compose(options.middleware ?? [], { ...layers, resolve: (request) => this.#router.resolve(request) });
    for (const { route, path } of routes) (route as MountableRoute)[kMount]?.(this, path);
  }

  /**
   * @internal `serve()` or `attach()` put `server` under the app's shutdown:
   * the app drains once every such server has closed. An app whose servers
   * had all begun to close, or that had shut down, is served again: a fresh
   * closing signal (the dashboard streams anew), its metrics' gauges count
   * it again, its durable store opens anew. Refused while its shutdown runs.
   * The span active here (its caller's) is no request's parent, unless
   * `startup` is false: a test client is made where a test runs, and the
   * requests it makes inside a span are that span's.
   */
  [kGovern](server: object, startup = true): void {
    if (this.#shutdown === 'draining') throw new Error('the app is shutting down (its last server is closing): await that close() before serving the app again');
    if (this.#shutdown === 'done') {
      this.#shutdown = undefined;
      // Its servers have all closed: no response asks for its connection's close now.
      this.#closing = false;
      this.#observing.reopen();
      this.tasks.reopen();
    }
    if (this.#closingController.signal.aborted) this.#closingController = new AbortController();
    this.#servers.add(server);
    // Called where serve() was: the span active here, carried into every connection, is no request's parent.
    if (startup) this.#observing.tracing?.served();
    const unregistered = this.#observing.tracing?.unregistered();
    // Written safely: a logger that throws must not leave a server listening that serve() reports as failed.
    if (unregistered !== undefined) writeSafely(this.logger, 'warn', {}, unregistered);
  }

  /**
   * @internal `server` begins to close (undefined: a framework closing
   * without one): the responses on its connections ask the client to close
   * them from now on; those on the app's other servers do not. Once every
   * server the app was put on has begun to close, the app is closing
   * (`kClosingSignal`).
   */
  [kServerClosing](server: object | undefined): void {
    if (server !== undefined) closingServer(server);
    this.#closing = true;
    // Another framework writes a response's head when it likes: each one in flight on that server asks for its connection's close then.
    for (const exchange of this.#inFlight) if (exchange instanceof AdoptedExchange) exchange.closeConnection(this.#inFlight);
    const whole = [...this.#servers].every(isClosing);
    for (const listener of this.#closingListeners) listener(server, whole);
    if (whole) this.#closingController.abort();
  }

  /** @internal `listener` hears each of the app's servers begin to close, for as long as the app lives (it may be served again). */
  [kOnServerClosing](listener: ServerClosingListener): void {
    this.#closingListeners.push(listener);
  }

  /** @internal `server`'s shutdown timeout has passed: the responses of its requests still in flight end with their connections, cut off by the server, not their clients. */
  [kTimedOut](server: object): void {
    for (const exchange of this.#inFlight) if (serverOf(exchange.connection) === server) exchange.cutOff ??= SHUTDOWN_TIMED_OUT;
  }

  /** @internal `server` has closed its connections: how many of the app's servers are still open or closing (0: the app drains now). */
  [kServerClosed](server: object): number {
    this.#servers.delete(server);
    return this.#servers.size;
  }

  /**
   * @internal `listener` hears every request's start and end, as metrics and
   * tracing see them (the dashboard). An app without listeners pays nothing for them.
   */
  [kListen](listener: RequestListener): void {
    this.#observing.listen(listener);
    this.#observer = this.#observing;
  }

  /** @internal One of the app's servers refused a request before the app saw it (see server/client-error.ts): the access log and the metrics record it. */
  [kRefused](refusal: Refusal): void {
    this.#observer?.refused(refusal);
  }

  /** @internal The app's metrics (undefined when off), for `coda worker --metrics-port`. */
  get [kMetrics](): Metrics | undefined {
    return this.#observing.metrics;
  }

  /** @internal Aborts when the last of the app's servers begins to close (see `kServerClosing`); read it anew after `kGovern`, which may replace it. */
  get [kClosingSignal](): AbortSignal {
    return this.#closingController.signal;
  }

  /**
   * A Node request listener: `http.createServer(app.handler)`, and, for
   * HTTP/2, `http2.createSecureServer({ key, cert, allowHTTP1: true }, app.handler)`
   * (`serve()` does either).
   */
  readonly handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    this.#serveEither(req, res, this.#admitAndRun);
  };

  /**
   * @internal `handler` as `serve()` installs it, which Node alone calls:
   * each request's context is entered for the rest of Node's callback (see enterJob).
   */
  readonly [kServe] = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    this.#serveEither(req, res, this.#admitAndEnter);
  };

  /** @internal `kServe` for a server whose requests are all HTTP/1.x (serve()'s, but with HTTP/2). */
  readonly [kServeHttp1] = (req: IncomingMessage, res: ServerResponse): void => this.#serveNode(req, res, false, this.#admitAndEnter);

  #serveEither(req: IncomingMessage | Http2ServerRequest, res: NodeResponse, admitAndRun: (exchange: Exchange) => MaybePromise<HttpResponse>): void {
    // By the request's kind, not its version: an HTTP/1 request line may claim HTTP/2.0.
    if (req.httpVersionMajor === 2 && 'stream' in req) this.#serveNode(http2Source(req), res, true, admitAndRun);
    else this.#serveNode(req as IncomingMessage, res, false, admitAndRun);
  }

  #serveNode(source: IncomingMessage | RequestSource, res: NodeResponse, http2: boolean, admitAndRun: (exchange: Exchange) => MaybePromise<HttpResponse>): void {
    const exchange = this.#receive(source);
    let result: MaybePromise<HttpResponse>;
    try {
      const badHost = http2 ? authorityProblem(source as RequestSource) : hostProblem(source as IncomingMessage);
      result = badHost === undefined ? this.#run(exchange, admitAndRun) : this.#refuseHost(exchange, res, badHost, http2);
    } catch (error) {
      // Converters catch everything the app throws; this is for Coda's own bugs.
      result = renderError(exchange.request, error, this.debug);
    }
    if (isPromise(result)) {
      result.then(
        (response) => this.#respond(res, exchange, response, http2),
        (error: unknown) => this.#respond(res, exchange, renderError(exchange.request, error, this.debug), http2),
      );
    } else {
      this.#respond(res, exchange, result, http2);
    }
  }

  /**
   * No Host line, or two (or two of another field carried once); over
   * HTTP/2, a Host other than the :authority: a 400 before any middleware
   * runs. An HTTP/1.1 connection is closed (the next request's framing is
   * suspect too); an HTTP/2 stream is its own.
   */
  #refuseHost(exchange: Exchange, res: NodeResponse, problem: string, http2: boolean): HttpResponse {
    exchange.refuse();
    if (!http2) {
      (res as ServerResponse).shouldKeepAlive = false;
      lingerOnClose((res as ServerResponse).req);
    }
    return renderError(exchange.request, new BadRequest(problem), this.debug);
  }

  /**
   * The Web-standard entry point: a `Request` in, a `Response` out, through
   * the same middleware, routing and error handling as over a socket. For
   * runtimes and hosts whose interface is a fetch handler, and for tests
   * with plain `Request` objects. The request body is streamed from the
   * Request, under the same limits. The Response is returned once the
   * request's durable tasks are journaled; its after-response tasks run once
   * its body has been read to the end (`outcome.completed`) or cancelled,
   * or the Request's `signal` aborted (`outcome.aborted`): read or cancel
   * every body, as a socket would.
   *
   * @example
   * ```ts
   * export default { fetch: app.fetch };          // a fetch-handler host
   * const response = await app.fetch(new Request('http://localhost/notes/7'));
   * await response.json();
   * ```
   */
  readonly fetch = async (request: Request): Promise<Response> => {
    if (!(request instanceof Request)) throw new TypeError(`app.fetch() takes a Request, got ${describe(request)}`);
    if (request.bodyUsed) throw new TypeError(`app.fetch(): the body of the Request to ${request.method} ${request.url} has been read already`);
    const source = fetchSource(request);
    const exchange = this.#receive(source);
    const unfollow = followClient(exchange.request, source.body, request.signal);
    let response: HttpResponse;
    try {
      response = await this.#run(exchange);
    } catch (error) {
      response = renderError(exchange.request, error, this.debug);
    } finally {
      unfollow();
    }
    return this[kAnswerFetch](exchange, response, request.signal);
  };

  /**
   * @internal The Web Response for `response`, once the exchange's durable
   * tasks are journaled: the exchange finishes when it is delivered (see
   * transport/fetch/response.ts); `signal` aborting first is the client
   * going away.
   */
  async [kAnswerFetch](exchange: Exchange, response: HttpResponse, signal: AbortSignal): Promise<Response> {
    exchange.response = await this[kJournal](exchange, response);
    const build = (): Promise<Response> => webResponse(exchange, signal);
    try {
      // A streamed body is produced as it is read: in the request's async context, so after() works there.
      return await (exchange.response instanceof StreamingResponse ? inJob(exchange, this.#asyncContext, build, undefined) : build());
    } catch (error) {
      // Refused, or a stream failed, before anything was read: the error's own response instead.
      replaceRefused(exchange, error, this.debug);
      return build();
    }
  }

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
    // A process that answers requests runs tasks (app.fetch() and Hono's too, which call neither serve() nor attach()).
    this.tasks.runHere();
    return exchange;
  }

  #run(exchange: Exchange, admitAndRun = this.#admitAndRun): MaybePromise<HttpResponse> {
    const tracing = this.#observer?.tracing;
    return tracing === undefined ? admitAndRun(exchange) : tracing.runRequest(exchange.request, admitAndRun, exchange);
  }

  /** The pipeline, unless admission control refuses the request. */
  readonly #admitAndRun = (exchange: Exchange): MaybePromise<HttpResponse> =>
    this.#admit(exchange) ?? inJob(exchange, this.#asyncContext, this.#pipeline, exchange.request);

  /** `#admitAndRun` called by Node's server alone, its context left for Node to put back (see enterJob). */
  readonly #admitAndEnter = (exchange: Exchange): MaybePromise<HttpResponse> =>
    this.#admit(exchange) ?? enterJob(exchange, this.#asyncContext, this.#pipeline, exchange.request);

  /**
   * The host checks (a Host or target authority RFC 9112 3.2 refuses, when
   * Coda is `answering` the request, then `allowedHosts`), admission
   * control, then `requestStarted`. Returns the
   * 400 to answer for a host that is none or that the app does not serve,
   * or the 503 when the after-response queue is full: the exchange is
   * refused (none of its tasks will run).
   */
  #admit(exchange: Exchange, answering = true): HttpResponse | undefined {
    // `exchange.request` read only where used: an adopted exchange makes it on first read.
    this.#observer?.started(exchange);
    // An adopted request's framework answers it, and judges its Host itself.
    const badHost = answering ? hostFieldProblem(exchange.request[kHostField], exchange.request.url) : undefined;
    if (badHost !== undefined || (this.#allowedHosts !== undefined && !this.#allowedHosts(exchange.request.host))) {
      const { request } = exchange;
      exchange.refuse();
      return renderError(request, new BadRequest(badHost ?? disallowedHost(request.host, request.headers.get('host'), request.url)), this.debug);
    }
    if (!this.#scheduler.admitting) {
      this.#scheduler.countShed();
      this.#observer?.metrics?.shed();
      exchange.refuse();
      return renderError(exchange.request, new ServiceUnavailable('the after-response queue is full; retry shortly'), this.debug);
    }
    if (this.signals.requestStarted.receivers.length > 0 || signals.requestStarted.receivers.length > 0) inJob(exchange, this.#asyncContext, this.#sendStarted, exchange);
    return undefined;
  }

  /** `requestStarted`, run as code of its request: `after()` in a receiver registers work for it. */
  readonly #sendStarted = (exchange: Exchange): void => {
    sendRequestStarted(exchange.request, this.signals, this.#startedReceivers);
  };

  /**
   * @internal Takes charge of a request another framework answers (the
   * adapters in `coda-http/express` and the others): an exchange that watches
   * the framework's response, for the adapter to run the request in (with
   * `inJob`); or, when the after-response queue is full, the 503 the adapter
   * answers instead.
   */
  [kAdopt](req: IncomingMessage, res: ServerResponse): AdoptedExchange | HttpResponse {
    const exchange = new AdoptedExchange(this.#host, req, res, this, this.#adoptedSpan());
    this.#inFlight.push(exchange);
    this.tasks.runHere();
    if (this.#closing) exchange.closeConnection(this.#inFlight);
    exchange.watch();
    return this.#admit(exchange, false) ?? exchange;
  }

  /**
   * @internal Takes charge of a Web Request another framework answers with no
   * Node response to watch (Hono on a fetch runtime, or its `app.request()`):
   * the framework reads the body; `kAnswerFetch` delivers its answer. The
   * exchange's response is set already (a 503) when the after-response queue
   * is full: the framework is not to run.
   */
  [kAdoptFetch](request: Request): Exchange {
    const exchange = this.#receive(fetchHead(request));
    const span = this.#adoptedSpan();
    if (span !== undefined) giveAdoptedSpan(exchange.request, span);
    const refused = this.#admit(exchange, false);
    if (refused !== undefined) exchange.response = refused;
    return exchange;
  }

  /**
   * With tracing on, the framework's span active here, to be the request's
   * for its tasks (Tracing.adopted()). An adapter's app is never served: its
   * first request warns, as serving does, when OpenTelemetry's context
   * manager or propagator is missing (there would be no span to adopt).
   */
  #adoptedSpan(): AdoptedSpan | undefined {
    const tracing = this.#observer?.tracing;
    if (tracing === undefined) return undefined;
    const span = tracing.adopted();
    const unregistered = tracing.unregistered();
    if (unregistered !== undefined) writeSafely(this.logger, 'warn', {}, unregistered);
    return span;
  }

  #respond(res: NodeResponse, exchange: Exchange, response: HttpResponse, http2: boolean): void {
    const ready = this[kJournal](exchange, response);
    if (isPromise(ready)) ready.then((answer) => this.#send(res, exchange, answer, http2));
    else this.#send(res, exchange, ready, http2);
  }

  /**
   * @internal The response to send: this one, its cookies written (`Secure`
   * as the request was, signed with the app's secret), once the exchange's
   * durable tasks are journaled (its first byte waits for the store); or a
   * 503 that names the store when the store could not take them. Every
   * transport sends what this returns.
   */
  [kJournal](exchange: Exchange, response: HttpResponse): MaybePromise<HttpResponse> {
    const { request } = exchange;
    const header = this.#observer?.requestIdHeader;
    // After every middleware, whatever returned it: a FileResponse answers the request's conditions and Range as it is sent.
    if (response instanceof FileResponse) response = answerFile(response, request, this.debug);
    try {
      const echo = header !== undefined && !response.headers.has(header);
      const cookies = response[kCookies];
      // This request's own lines (its id, its cookies: Secure as it came, signed now) go on a copy: the response may be
      // shared by many requests (a module-level constant), which would all have sent the first one's. A stream is sent once.
      if ((echo || cookies !== undefined) && !(response instanceof StreamingResponse)) response = copyResponse(response, response.body);
      if (echo) response.headers[kSetTrusted](header, request.id);
      if (cookies !== undefined) {
        for (const line of setCookieHeaders(cookies.values(), request.protocol === 'https', this.#signer)) response.headers.append('set-cookie', line);
        response[kCookies] = undefined;
      }
      // Those the response was built with (outside any request), then those the request gave it or a response it replaced.
      const entries = response[kTaskEntries];
      if (entries !== undefined) for (const entry of entries) void exchange.addTask(entry).catch(() => {});
      for (const entry of exchange.givenTasks()) void exchange.addTask(entry).catch(() => {});
    } catch (error) {
      response = renderError(request, error, this.debug);
    }
    const journaled = exchange.journaled;
    if (journaled === undefined) return response;
    return journaled.then(() => response, (error: unknown) => {
      if (response instanceof StreamingResponse) releaseUnsent(response);
      const refused = unjournaled(request, error, this.debug);
      if (header !== undefined) echoRequestId(header, request.id, refused);
      return refused;
    });
  }

  /**
   * No other request is in flight on this request's connection. Node drops the
   * pipelined requests behind a `Connection: close` response unanswered: under
   * `attach()` or `app.handler` their views ran, so those get it on the last
   * one, or the idle sweep closes the connection once they are answered
   * (server/connections.ts). Under `serve()` they have not started (they run
   * one at a time, server/pipelining.ts): the first gets it, and they never run.
   */
  #aloneOnConnection(exchange: Exchange): boolean {
    const socket = exchange.connection;
    for (const other of this.#inFlight) if (other !== exchange && other.connection === socket) return false;
    return true;
  }

  #send(res: NodeResponse, exchange: Exchange, response: HttpResponse, http2: boolean): void {
    exchange.response = response;
    // Closing over HTTP/2 is the session's GOAWAY (server.close()), not a header. Only the closing server's connections close.
    if (this.#closing && !http2 && onClosingServer(exchange.connection) && this.#aloneOnConnection(exchange)) (res as ServerResponse).shouldKeepAlive = false;
    watch(res, exchange, http2);
    try {
      // A streamed body is produced while it is sent: in the request's async context, so after() works there.
      if (response instanceof StreamingResponse) inJob(exchange, this.#asyncContext, () => send(res, exchange, http2), undefined);
      else send(res, exchange, http2);
    } catch (error) {
      if (!res.headersSent) {
        // Refused before any byte was written: a 500 instead.
        replaceRefused(exchange, error, this.debug);
        send(res, exchange, http2);
        return;
      }
      const { request } = exchange;
      writeSafely(request.log, 'error', { err: error, method: request.method, path: request.path }, 'could not write the response');
      exchange.error = error;
      res.destroy();
    }
  }

  readonly #exchangeFinished = (exchange: Exchange): void => {
    // Streams made for responses not sent, that nobody read, are let go: their sources (a file, an upstream body) would stay open.
    const unsent = exchange.unsent();
    if (unsent !== undefined) for (const stream of unsent) releaseStream(stream);
    this.#observer?.finished(exchange, exchange.outcome!);
    this.#inFlight.remove(exchange);
    if (this.#inFlight.size === 0) this.#idleWaiters.wake();
    if (this.#closing) this.#finishWaiters.wake();
  };

  #lost(record: TaskRecord): void {
    // Told from the after() that registered the task: a logger that throws here would throw there (in an abort listener, an uncaught exception).
    writeSafely(this.logger, 'warn', record, `after-response task ${record.name} registered after shutdown gave up on its request: not run`);
  }

  /** Requests received whose response is not done yet. */
  get requestsInFlight(): number {
    return this.#inFlight.size;
  }

  /** @internal Resolves when no request is in flight (on `server`'s connections, when given: a closing server's). */
  async [kRequestsDone](server?: object): Promise<void> {
    if (server === undefined) return this.#idleWaiters.wait(this.#inFlight.size === 0);
    while (this[kRequestsOn](server) > 0) await this.#finishWaiters.wait(false);
  }

  /** @internal The requests in flight on `server`'s connections. */
  [kRequestsOn](server: object): number {
    let count = 0;
    for (const exchange of this.#inFlight) if (serverOf(exchange.connection) === server) count++;
    return count;
  }

  /**
   * Shutdown's deadline has passed: the requests still in flight give
   * up the tasks they registered, then the scheduler aborts and gives up the
   * rest. Resolves with every task given up.
   */
  async #abandon(deadline: number): Promise<TaskRecord[]> {
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
    for (const exchange of this.#inFlight) {
      given.push(...exchange.abandon());
      // Its view still at work, it would be observed only once that returns, after the process has exited as like as not: its span lost.
      if (!exchange.handled) this.#observer?.givenUp(exchange, givenUpOutcome(exchange));
    }
    return given;
  }

  /**
   * The path of a named route, its params percent-encoded. A TypeError names
   * what is wrong: an unknown name (and the one likely meant), a param missing,
   * one the route does not take, a value its regex refuses, or a link that
   * would route back elsewhere (see docs/web.md).
   *
   * @example
   * ```ts
   * app.reverse('note', { id: 7 }); // '/notes/7'
   * ```
   */
  reverse(name: string, params?: Record<string, string | number | bigint>): string {
    return this.#router.reverse(name, params);
  }

  /** The after-response counters: pending, running, completed, failed, timedOut, shed, skipped. */
  afterStats(): AfterStats {
    return this.#scheduler.stats();
  }

  /**
   * Resolves when no request is in flight, no async `requestStarted`
   * receiver is at work and no after-response task is pending or running
   * (nor its failure being reported): a test that read a response over real
   * HTTP can await this without racing the server's `'finish'`.
   */
  settle(): Promise<void> {
    return this[kSettle](() => false);
  }

  /** @internal `settle()`, moving a test's clock to each delayed durable task's time with `advance` (false: it cannot). */
  async [kSettle](advance: (to: number) => boolean): Promise<void> {
    do {
      await this[kRequestsDone]();
      await this.#startedReceivers.whenIdle();
      await this.#scheduler.whenIdle();
      await this.tasks.settle(advance);
    } while (this.#inFlight.size > 0 || !this.#startedReceivers.idle || !this.#scheduler.idle || !this.tasks.idle);
  }

  /** @internal What `settle()` still waits for, one line each: the requests without their response, the async requestStarted receivers, the after-response tasks, the durable ones. */
  [kUnfinished](): string[] {
    const name = (request: HttpRequest): string => `request ${request.id}: ${request.method} ${request.path}`;
    const lines: string[] = [];
    for (const { request } of this.#inFlight) lines.push(`${name(request)}, no response yet`);
    for (const receiver of this.#startedReceivers.unfinished()) lines.push(`requestStarted receiver ${receiver.name}: running (${name(receiver.request)})`);
    for (const task of this.#scheduler.unfinished()) lines.push(`after-response task ${task.name}: ${task.state === 'reporting' ? 'failed, after.onError still reporting it' : task.state} (${name(task.request)})`);
    lines.push(...this.tasks.unfinished());
    return lines;
  }

  /** @internal Shutdown of the durable tasks' runner: running attempts finish until `deadline`, the rest go back to the store. */
  [kCloseTasks](deadline: number): Promise<StoredTask[]> {
    return this.tasks.close(deadline);
  }

  /**
   * @internal The app's shutdown, its last server closed (closeApp): the
   * tasks left run until `deadline`, then the rest are given up and running
   * durable tasks given back to the store; a registry it shares with other
   * apps no longer asks it for its counts. Resolves with the tasks given up
   * and those left in the store. A server may be put on it again once done.
   */
  async [kShutDown](deadline: number): Promise<[TaskRecord[], StoredTask[]]> {
    this.#shutdown = 'draining';
    try {
      return await Promise.all([this.#abandon(deadline), this[kCloseTasks](deadline)]);
    } finally {
      this.#observing.close();
      this.#shutdown = 'done';
    }
  }

  /** @internal */
  get [kScheduler](): AfterScheduler {
    return this.#scheduler;
  }
}

/** One of the app's servers begins to close (undefined: a framework's, unnamed); `whole`: every one of them has (see `kServerClosing`). */
export type ServerClosingListener = (server: object | undefined, whole: boolean) => void;

/** Sets the request id header, unless the app set one itself. `request.id` is a checked token or a UUID: safe to set as is. */
function echoRequestId(header: string, id: string, response: HttpResponse): void {
  if (!response.headers.has(header)) response.headers[kSetTrusted](header, id);
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

/** What `file` answers `request` with (http/file-response.ts): itself, or a 304, 412 or 416, the file then let go unopened. */
function answerFile(file: FileResponse, request: HttpRequest, debug: boolean): HttpResponse {
  let answer: HttpResponse;
  try {
    answer = file[kAnswerRequest](request);
  } catch (error) {
    answer = renderError(request, error, debug);
  }
  if (answer !== file) releaseUnsent(file);
  return answer;
}
