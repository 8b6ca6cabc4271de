/**
 * Coda's after-response work in a Hono app: `coda-http/hono`. On
 * @hono/node-server it watches the Node response; without one (`app.request()`
 * in tests, another runtime) it delivers the Web Response as `app.fetch` does,
 * and tells a runtime that gave Hono its ExecutionContext (Workers) to wait
 * for each request's after-response work. Gives Hono's
 * `c.executionCtx.waitUntil()` on Node too.
 *
 * @example
 * ```ts
 * import { serve, type HttpBindings } from '@hono/node-server';
 * import { Hono } from 'hono';
 * import { after } from 'coda-http';
 * import { coda } from 'coda-http/hono';
 *
 * const app = new Hono<{ Bindings: HttpBindings }>();
 * const tasks = coda({ after: { maxPending: 10_000 } });
 * app.use(tasks);
 * app.post('/notes', async (c) => {
 *   after(() => search.reindex(), { name: 'reindex' });    // anywhere in the request
 *   c.after(({ outcome }) => audit.write(outcome));        // on this request's response
 *   c.executionCtx.waitUntil(analytics.track('note'));     // as on Workers
 *   return c.json(await c.req.json(), 201);
 * });
 * const { close } = tasks.attach(serve({ fetch: app.fetch, port: 3000 }));
 * ```
 */
import { AsyncResource } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Context, ExecutionContext, MiddlewareHandler, Next } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { inJob, register } from '../after/context.js';
import type { Exchange } from '../after/exchange.js';
import type { App } from '../app/app.js';
import { renderError } from '../http/error-response.js';
import { HttpResponse, type AfterTask } from '../http/response.js';
import type { DurableTask, TaskAfterOptions, TaskRegistration } from '../http/task-entry.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { drainApp, type ShutdownReport } from '../server/close.js';
import { kAdoptFetch, kAnswerFetch, kScheduler } from '../symbols.js';
import { followClient } from '../transport/fetch/request.js';
import { adoptedExchange } from '../transport/node/adopt.js';
import { checkMs } from '../util/options.js';
import { adapterApp, adapterMethods, adopt, afterFor, cutShort, headerRecord, withinEvents, type Adapter, type AdapterOptions, type AfterFunction } from './adapter.js';

export * from './exports.js';

declare module 'hono' {
  interface Context {
    /** Runs a task after this request's response was sent (or the client went away); a `task()` with its payload durably. See coda-http/hono. */
    after: AfterFunction;
  }
}

/** Coda's Hono middleware, with the adapter's `app`, `attach()` and `close()`. */
export type HonoCoda = MiddlewareHandler & Adapter & {
  /**
   * Shutdown without a Node server to attach (`app.request()` in tests,
   * another runtime): the requests in flight finish, then the pending tasks
   * run, until the deadline (default 10,000 ms). Logs the report and resolves
   * with it.
   */
  close(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
};

/** What @hono/node-server puts in `c.env`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;

/** The exchange of a request with no Node response (see `answerFetch`), on its Context. */
const kFetchExchange = Symbol('coda.hono.exchange');
/** The runtime's own ExecutionContext of such a request (Workers'), when it gave Hono one. */
const kRuntime = Symbol('coda.hono.runtime');
type FetchContext = Context & { [kFetchExchange]?: Exchange; [kRuntime]?: ExecutionContext };

/** The Node response of a request on @hono/node-server; undefined elsewhere. */
function outgoing(c: Context): ServerResponse | undefined {
  return (c.env as NodeBindings)?.outgoing;
}

const cAfter = afterFor('c.after()', outgoing);

/** `c.after()` of a request with no Node response. */
function fetchAfter(this: FetchContext, task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions): void | Promise<TaskRegistration> {
  return register(this[kFetchExchange]!, 'c.after()', task, second, third);
}

const kReady = Symbol('coda.hono.context');
type ReadyContext = Context & { [kReady]?: true };

/**
 * Gives Hono's Context class, once, `c.after` and a `c.executionCtx` that
 * is Coda's (see `defineExecutionContext`) for the requests Coda adopted on
 * @hono/node-server and Hono's own for any other. On the class, not on each
 * Context: a property defined on an object turns it into a dictionary, which
 * costs the request that and every later read of `c`.
 */
function prepare(proto: ReadyContext): void {
  const honos = getterOf(proto, 'executionCtx');
  Object.defineProperty(proto, 'executionCtx', {
    get(this: Context): ExecutionContext {
      const res = outgoing(this);
      const exchange = res === undefined ? undefined : adoptedExchange(res);
      return exchange === undefined ? honos.call(this) as ExecutionContext : defineExecutionContext(this, exchange);
    },
    configurable: true,
  });
  Object.defineProperty(proto, 'after', { value: cAfter, configurable: true, writable: true });
  Object.defineProperty(proto, kReady, { value: true });
}

/**
 * Prepares the Context class of the Hono this module finds, and the
 * StreamingApi of its streaming helpers, as `coda()` is called: at once where
 * it can, so that a request of this very tick (an `app.request()` right after
 * `app.use(coda())`) finds them ready: on a route the middleware does not
 * cover, `c.after` and its clear error, not undefined until an `import()`
 * resolved; an `onAbort()` listener given then, run in its request. Hono is
 * an ES module, which Node's `require()` loads synchronously (22.12 and
 * later) as the very instance `import` gives. A loader that compiles what
 * `require()` loads (tsx) gives a copy of its own instead, which no Hono app
 * uses: then, and where `require()` cannot load it at all, Hono's module is
 * prepared once `import()` has it. Hono's CommonJS build (an app made with
 * `require('hono')`) has classes of its own: its StreamingApi is prepared now
 * too (a small module of no dependencies); its Context now if the app loaded
 * it already, else at the first request Coda takes (see `ready`). Without
 * Hono installed, nothing: the adapter loads without it (a peer it needs for
 * its types only).
 */
function prepareHono(): void {
  withEsModule('hono', () => import('hono'), ({ Context }) => ready(Context.prototype as ReadyContext));
  withEsModule('hono/utils/stream', () => import('hono/utils/stream'), ({ StreamingApi }) => inContextOnAbort(StreamingApi.prototype));
  const commonJs = commonJsNow<typeof import('hono/utils/stream')>('hono/utils/stream');
  if (commonJs !== undefined) inContextOnAbort(commonJs.StreamingApi.prototype);
  const commonJsHono = commonJsLoaded<typeof import('hono')>('hono');
  if (commonJsHono !== undefined) ready(commonJsHono.Context.prototype as ReadyContext);
}

const kBound = Symbol('coda.hono.onAbort');
type StreamingProto = { onAbort(listener: () => void | Promise<void>): void; [kBound]?: true };

/**
 * Hono's streaming helpers (`stream()`, `streamSSE()`) run a stream's
 * `onAbort()` listeners when @hono/node-server cancels its body on the
 * response's `'close'`, outside the request's async context, though they are
 * code of the request: each now runs in the context it was given in (so
 * `after()` works there), as Koa's `'error'` listeners do. Once per
 * StreamingApi class (Hono's ES module's, its CommonJS build's).
 */
function inContextOnAbort(proto: StreamingProto): void {
  if (proto[kBound] === true) return;
  const onAbort = proto.onAbort;
  Object.defineProperty(proto, 'onAbort', {
    value(this: StreamingProto, listener: () => void | Promise<void>): void {
      onAbort.call(this, AsyncResource.bind(listener));
    },
    configurable: true,
    writable: true,
  });
  Object.defineProperty(proto, kBound, { value: true });
}

/**
 * Calls `use` with Hono's ES module `specifier`: now where `require()` loads
 * that very instance, else once `load` (its `import()`, written out so that a
 * bundler follows it) has it; never without Hono.
 */
function withEsModule<Module>(specifier: string, load: () => Promise<Module>, use: (module: Module) => void): void {
  const now = esModuleNow<Module>(specifier);
  if (now !== undefined) use(now);
  else load().then(use, () => {});
}

/** Hono's ES module `specifier`, loaded now by `require()`; undefined when it cannot be, or came as a loader's copy (not a module namespace). */
function esModuleNow<Module>(specifier: string): Module | undefined {
  try {
    const loaded: unknown = createRequire(import.meta.url)(fileURLToPath(import.meta.resolve(specifier)));
    return Object.prototype.toString.call(loaded) === '[object Module]' ? loaded as Module : undefined;
  } catch {
    return undefined;
  }
}

/** Hono's CommonJS build of `specifier` (what a user's `require()` gets), loaded now; undefined without it. */
function commonJsNow<Module>(specifier: string): Module | undefined {
  try {
    return createRequire(import.meta.url)(specifier) as Module;
  } catch {
    return undefined;
  }
}

/** Hono's CommonJS build of `specifier` if a user's `require()` loaded it already; undefined otherwise (an app of Hono's ES module does not pay for loading it). */
function commonJsLoaded<Module>(specifier: string): Module | undefined {
  try {
    const require = createRequire(import.meta.url);
    return require.cache[require.resolve(specifier)]?.exports as Module | undefined;
  } catch {
    return undefined;
  }
}

/** `prepare(proto)`, once; per request too, for the Context of a Hono other than the one this module loads (a second copy). */
function ready(proto: ReadyContext): void {
  if (proto[kReady] !== true) prepare(proto);
}

/** The getter of `name` on `proto` or its prototypes. */
function getterOf(proto: object, name: string): () => unknown {
  for (let at: object | null = proto; at !== null; at = Object.getPrototypeOf(at)) {
    const get = Object.getOwnPropertyDescriptor(at, name)?.get;
    if (get !== undefined) return get;
  }
  throw new Error(`coda-http/hono: this Hono's Context has no ${name} getter (this adapter knows Hono 4's)`);
}

/**
 * `c.executionCtx` on Node, as on Workers: `waitUntil(promise)` keeps the
 * promise's work under Coda's care (awaited after the response, its
 * rejection reported to `onError` instead of crashing the process, drained
 * on shutdown, abandoned at the deadline with a report). Made on first use.
 */
function fetchExecutionContext(this: FetchContext): ExecutionContext {
  return defineExecutionContext(this, this[kFetchExchange]!, this[kRuntime]);
}

/** Coda's `c.executionCtx`; on a runtime that gave Hono its own, `passThroughOnException()` and `props` are the runtime's. */
function defineExecutionContext(c: Context, exchange: Exchange, runtime?: ExecutionContext): ExecutionContext {
  const context: ExecutionContext = {
    waitUntil(promise: Promise<unknown>): void {
      // Handled now: a rejection before the response is done must not be an unhandled one.
      const settled = Promise.resolve(promise).then(() => undefined, (error: unknown) => ({ error }));
      register(exchange, 'c.executionCtx.waitUntil()', async () => {
        const failed = await settled;
        if (failed !== undefined) throw failed.error;
      }, { name: 'waitUntil' });
    },
    passThroughOnException(): void {
      if (runtime === undefined) throw new Error('c.executionCtx.passThroughOnException() has no meaning on Node: there is no origin to pass the request through to');
      runtime.passThroughOnException();
    },
    props: runtime === undefined ? {} : runtime.props,
    exports: runtime?.exports,
  };
  Object.defineProperty(c, 'executionCtx', { value: context, configurable: true });
  return context;
}

/**
 * Hono middleware that gives every request after it
 * Coda's after-response work: `after()` anywhere in the request, `c.after()`,
 * `c.executionCtx.waitUntil()`, limits (503 with `Retry-After` at
 * `maxPending`), isolation, timeouts, durable tasks, and a drained shutdown
 * with a report once the server is `attach()`ed (or at `close()` without
 * one). Use it first: `app.use(coda())`.
 */
export function coda(options: AdapterOptions = {}): HonoCoda {
  const app = adapterApp('coda-http/hono coda()', options);
  // Now, not at the first request through the middleware: on a route it does not cover, c.after says so from the start.
  prepareHono();
  const middleware: MiddlewareHandler = async (c, next) => {
    const res = outgoing(c);
    if (res === undefined) return answerFetch(app, c, next);
    const adopted = adopt(app, (c.env as NodeBindings)!.incoming!, res);
    if (adopted instanceof HttpResponse) {
      return c.body(adopted.body as string, adopted.status as ContentfulStatusCode, headerRecord(adopted));
    }
    if (adopted === undefined) {
      await next();
      return undefined;
    }
    ready(Object.getPrototypeOf(c) as ReadyContext);
    // The response's 'close' aborts the Request's signal (c.req.raw.signal): its listeners are code of the request.
    const rest = withinEvents(adopted, res, next);
    // @hono/node-server writes none of a streamed Response to a client that left: the Response made is the handler's answer.
    adopted.handling(rest);
    try {
      await rest;
    } catch (error) {
      // What Hono's onError does not take (a thrown non-Error), or onError's own failure: the same once the head is out.
      if (res.headersSent) cut(res, error);
      throw error;
    }
    // Hono's onError answered an error thrown once the head was out: @hono/node-server cannot write that answer's head and would end the response with the error's text, as if whole.
    if (c.error !== undefined && res.headersSent) cut(res, c.error);
    return undefined;
  };
  const close = (closeOptions: { timeoutMs?: number } = {}): Promise<ShutdownReport> =>
    drainApp(app, checkMs('coda-http/hono close(): timeoutMs', closeOptions.timeoutMs ?? 10_000));
  return Object.assign(middleware, adapterMethods(app), { close });
}

/**
 * `cutShort()` on @hono/node-server, which then writes the head of the 500
 * it has for the error (onError's answer, or its own for an error Hono let
 * out) to the response just cut: Node throws ERR_HTTP_HEADERS_SENT, which it
 * prints to the console with its stack at every such cut. A head on a
 * response destroyed goes nowhere: its `writeHead()` does nothing now (what
 * it writes after is dropped by Node without a word).
 */
function cut(res: ServerResponse, error: unknown): void {
  cutShort(res, error);
  if (res.destroyed) res.writeHead = (() => res) as ServerResponse['writeHead'];
}

/**
 * A request with no Node response to watch (`app.request()`, Hono on another
 * runtime): Coda delivers the Response Hono made as `app.fetch` delivers its
 * own (App[kAnswerFetch]): the exchange is done once that Response's body has
 * been read to its end (completed) or cancelled (aborted), or at once when it
 * has none.
 */
async function answerFetch(app: App, c: FetchContext, next: Next): Promise<undefined> {
  if (c[kFetchExchange] !== undefined) {
    // Mounted twice, or in a sub-app: the first one has the request.
    await next();
    return undefined;
  }
  const request = c.req.raw;
  const exchange = app[kAdoptFetch](request);
  c[kFetchExchange] = exchange;
  // Set already when admission refused the request (a 503): the app does not run.
  let response = exchange.response;
  if (response === undefined) {
    const runtime = runtimeContext(c);
    if (runtime !== undefined) {
      c[kRuntime] = runtime;
      // The runtime may freeze or end the isolate once the response is out: it waits for this request's after-response work.
      runtime.waitUntil(app[kScheduler].whenDone(exchange));
    }
    c.after = fetchAfter as AfterFunction;
    Object.defineProperty(c, 'executionCtx', { get: fetchExecutionContext, configurable: true });
    // The client leaving while Hono works aborts Coda's request.signal, as in app.fetch (Hono reads the body: none to fail here).
    const unfollow = followClient(exchange.request, null, request.signal);
    try {
      await inJob(exchange, true, next, undefined);
      response = codaResponse(c.res);
    } catch (error) {
      // What Hono's onError does not take (a thrown non-Error), or onError's own failure: a 500, as app.fetch answers it.
      response = renderError(exchange.request, error, app.debug);
    } finally {
      unfollow();
    }
  }
  const delivered = await app[kAnswerFetch](exchange, response, request.signal);
  // Hono merges the Response it had into a new one it is given: this one has its headers already, less the connection-specific ones.
  c.res = undefined;
  c.res = delivered;
  return undefined;
}

/**
 * The ExecutionContext the runtime gave `app.fetch(request, env, ctx)` (Workers'), read before Coda's replaces it;
 * undefined when there is none (Node, Bun, Deno, `app.request()`): Hono's getter then throws.
 */
function runtimeContext(c: Context): ExecutionContext | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/** Hono's Response as Coda's: its status and headers, its body (if any) a stream read as the consumer reads the one delivered. */
function codaResponse(web: Response): HttpResponse {
  const init = { status: web.status, headers: web.headers };
  if (web.body === null) return new HttpResponse(null, init);
  const response = new StreamingResponse(web.body, init);
  // Coda types a stream without a type application/octet-stream; Hono's goes out as it was made.
  if (!web.headers.has('content-type')) response.headers.delete('content-type');
  return response;
}
