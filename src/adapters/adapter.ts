import { AsyncResource } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { format } from 'node:util';
import { inJob, register } from '../after/context.js';
import type { SchedulerOptions } from '../after/scheduler-options.js';
import { createApp, type App } from '../app/app.js';
import type { TasksOptions } from '../durable/tasks.js';
import type { AfterOptions, AfterTask, HttpResponse } from '../http/response.js';
import type { DurableTask, TaskAfterOptions, TaskRegistration } from '../http/task-entry.js';
import type { Logger } from '../log/logger.js';
import type { ObserveOptions } from '../observe/observer.js';
import { attach, type AttachableServer, type AttachedServer, type AttachOptions } from '../server/attach.js';
import { kAdapted, kAdopt } from '../symbols.js';
import { adoptedExchange, type AdoptedExchange } from '../transport/node/adopt.js';
import { checkKeys } from '../util/options.js';

/** What every adapter takes: Coda's after-response settings for the framework's app, and how its tasks are observed. */
export interface AdapterOptions {
  /** The scheduler's limits and error reporting: `concurrency`, `maxPending` (503 beyond it), `timeoutMs`, `onError`. */
  after?: SchedulerOptions;
  /** Durable tasks: their definitions and the store that journals them. */
  tasks?: TasksOptions;
  /** A pino logger (or one with its methods) for task failures and the shutdown report. */
  logger?: Logger;
  /** Stacks in the 500s and 503s Coda itself answers. Never in production. */
  debug?: boolean;
  /**
   * Prometheus metrics of the tasks (`createApp()`'s `metrics`: `true` or
   * `{ registry, defaultMetrics }`; needs `prom-client`). Not of the
   * requests: those are the framework's to count.
   */
  metrics?: ObserveOptions['metrics'];
  /**
   * OpenTelemetry spans of the tasks (`createApp()`'s `tracing`: `true` or
   * `{ tracerProvider }`; needs `@opentelemetry/api`), children of the
   * framework's request span; a durable task journals its trace. No request span.
   */
  tracing?: ObserveOptions['tracing'];
}

const KEYS = ['after', 'tasks', 'logger', 'debug', 'metrics', 'tracing'];

/**
 * A per-response registration (`res.after`, `reply.after`, `ctx.after`,
 * `c.after`): `after()` bound to one request, so it works where the async
 * context does not reach (an event listener, a callback-style library).
 */
export interface AfterFunction {
  (task: AfterTask, options?: AfterOptions): void;
  <Payload>(task: DurableTask<Payload>, payload: Payload, options?: TaskAfterOptions): Promise<TaskRegistration>;
}

/** What every adapter gives besides its middleware or plugin. */
export interface Adapter {
  /**
   * The Coda app behind the adapter: `afterStats()`, `settle()` (await the
   * tasks in tests), `tasks` (durable tasks: `enqueue()`, `stats()`, ...)
   * and `signals`.
   */
  readonly app: App;
  /**
   * Puts the framework's server under Coda's shutdown: SIGTERM and SIGINT
   * (unless `handleSignals: false`) and the returned `close()` stop accepting,
   * let requests in flight finish, run the pending tasks until the deadline
   * and resolve with the report of what ran and what was abandoned.
   */
  attach<S extends AttachableServer>(server: S, options?: AttachOptions): AttachedServer<S>;
}

/** The Coda app an adapter runs on, its options checked (`where` names the adapter in errors; `own` are the adapter's other options). */
export function adapterApp(where: string, options: AdapterOptions, own: readonly string[] = []): App {
  checkKeys(where, options, [...KEYS, ...own]);
  const { after, tasks, logger, debug, metrics, tracing } = options;
  // The framework logs and instruments its own requests: Coda's access log, spans and request metrics would count each one twice.
  return createApp({ after, tasks, logger, debug, metrics, tracing, accessLog: false, [kAdapted]: where });
}

/** The adapter's own methods, for the framework's middleware to carry. */
export function adapterMethods(app: App): Adapter {
  return { app, attach: (server, options) => attach(app, server, options) };
}

/**
 * Coda takes charge of a request the framework handles. Returns the
 * exchange to run the rest of the request in (see `within`), the 503 to
 * answer when the after-response queue is full, or undefined when another
 * Coda middleware took it already (mounted twice, or in a sub-app).
 */
export function adopt(app: App, req: IncomingMessage, res: ServerResponse): AdoptedExchange | HttpResponse | undefined {
  if (adoptedExchange(res) !== undefined) return undefined;
  return app[kAdopt](req, res);
}

/** Calls `next` as code of the request: `after()` finds it anywhere in the async call tree that follows. */
export function within<R>(exchange: AdoptedExchange, next: () => R): R {
  return inJob(exchange, true, next, undefined);
}

/**
 * `within()`, the events of `emitter` emitted in the request's context from
 * now on: Node emits them from the socket's, outside it, though their
 * listeners are code of the request. The request's own (the `'data'` and
 * `'end'` of a body read by hand or by a parser; `'close'` as its client
 * leaves, which aborts Fastify's `request.signal` and runs its
 * `onRequestAbort` hooks), or
 * @hono/node-server's response (whose `'close'` aborts the Request's signal).
 */
export function withinEvents<R>(exchange: AdoptedExchange, emitter: EventEmitter, next: () => R): R {
  return within(exchange, () => {
    // Not AsyncResource.bind(), which costs some 2 µs a request (the properties it gives the bound function): this, a few dozen ns.
    const scope = new AsyncResource('coda.request-events');
    const emit = emitter.emit;
    emitter.emit = function (this: EventEmitter, ...args: Parameters<EventEmitter['emit']>): boolean {
      return scope.runInAsyncScope(emit, this, ...args);
    };
    return next();
  });
}

/** Runs `next` again in the request's context where the framework lost it (a body read through stream events); as it is elsewhere. */
export function reenter<R>(res: ServerResponse, next: () => R): R {
  const exchange = adoptedExchange(res);
  return exchange === undefined ? next() : within(exchange, next);
}

/** A per-response `after` for the response `res(owner)` belongs to (if it has one); `where` names it in errors (`'res.after()'`). */
export function afterFor<Owner>(where: string, res: (owner: Owner) => ServerResponse | undefined): (this: Owner, task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions) => void | Promise<TaskRegistration> {
  return function (this: Owner, task, second, third) {
    const response = res(this);
    const exchange = response === undefined ? undefined : adoptedExchange(response);
    if (exchange === undefined) throw new Error(`${where} was called for a request Coda's middleware did not see: mount it before the routes that use it`);
    return register(exchange, where, task, second, third);
  };
}

/**
 * Ends a response its framework leaves open (Koa), or would end as if whole
 * (@hono/node-server), after an error thrown once its head was out: destroyed
 * with that error, noted for the outcome first (an HTTP/2 response keeps no
 * `errored`), so the client sees it fail and the tasks run; what was written
 * before goes out first (see `flushWritten`). Nothing for one ended or
 * destroyed already (an error listener dealt with it).
 */
export function cutShort(res: ServerResponse, error: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  const cause = thrownError(error);
  adoptedExchange(res)?.failed(cause);
  flushWritten(res);
  res.destroy(cause);
}

/**
 * What was thrown, as an Error: a non-Error (a string, an object) in one that
 * names it as Koa names it for its `'error'` listeners (`non-error thrown:`
 * and its JSON), the value its `cause`; an Error (of any realm) as it is.
 */
export function thrownError(thrown: unknown): Error {
  // Koa's own test: an Error of another realm is one too (util.types.isNativeError() is deprecated).
  if (thrown instanceof Error || Object.prototype.toString.call(thrown) === '[object Error]') return thrown as Error;
  return new Error(format('non-error thrown: %j', thrown), { cause: thrown });
}

/**
 * Hands what was written to `res` to the OS now, before a cut: Node corks a
 * response for its first writes until the next tick, and destroying it before
 * then drops them (the client would not even see the head that went out).
 * Node 26 corks the response itself (its chunks wait in the response until
 * it is uncorked); Node 22 and 24 cork its socket. Over HTTP/2 there is no
 * cork: nothing to do.
 */
export function flushWritten(res: ServerResponse): void {
  for (let corked = res.writableCorked; corked > 0; corked--) res.uncork();
  const socket = res.socket;
  for (let corked = socket?.writableCorked ?? 0; corked > 0; corked--) socket!.uncork();
}

/** The headers of a response Coda answers itself (a 503), as a record for the framework's own setters. */
export function headerRecord(response: HttpResponse): Record<string, string> {
  return Object.fromEntries(response.headers);
}
