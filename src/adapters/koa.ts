/**
 * Coda's after-response work in a Koa app: `coda-http/koa`.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { after } from 'coda-http';
 * import { coda } from 'coda-http/koa';
 *
 * const app = new Koa();
 * const tasks = coda({ after: { maxPending: 10_000 } });
 * app.use(tasks);
 * app.use(async (ctx) => {
 *   after(() => search.reindex(), { name: 'reindex' }); // anywhere in the request
 *   ctx.after(({ outcome }) => audit.write(outcome));   // on this request's response
 *   ctx.body = { ok: true };
 * });
 * const { close } = tasks.attach(app.listen(3000)); // SIGTERM drains; close() resolves with the report
 * ```
 */
import type { Context, Middleware, Next } from 'koa';
import { HttpResponse } from '../http/response.js';
import { adoptedExchange } from '../transport/node/adopt.js';
import { adapterApp, adapterMethods, adopt, afterFor, cutShort, headerRecord, thrownError, within, withinEvents, type Adapter, type AdapterOptions, type AfterFunction } from './adapter.js';

export * from './exports.js';

declare module 'koa' {
  interface ExtendableContext {
    /** Runs a task after this request's response was sent (or the client went away); a `task()` with its payload durably. See coda-http/koa. */
    after: AfterFunction;
  }
}

/** Coda's Koa middleware, with the adapter's `app` and `attach()`. */
export type KoaCoda = Middleware & Adapter;

const ctxAfter = afterFor('ctx.after()', (ctx: Context) => ctx.res);

/** The errors the adapter cut a response with, once Koa's 'error' listeners had them: Koa gives each to ctx.onerror again as that response closes with it (its onFinished(res, ctx.onerror)). */
const cutWith = new WeakSet<object>();

const kReady = Symbol('coda.koa.context');
type ReadyContext = Context & { [kReady]?: true };

/**
 * Gives the app's context prototype, once, an `onerror` that runs in the
 * request's async context: Koa calls it from a promise callback of its own,
 * outside the request's code, and it emits the app's `'error'` event, whose
 * listeners are code of the request (`after()` works there). A streamed body
 * cut short by the 503 Coda sent because the store refused the durable tasks
 * is reported as that refusal, its cause, not as Node's premature close. An
 * error once the head is out, which Koa can only report, ends the response
 * (see `cutShort`).
 */
function prepare(proto: ReadyContext): void {
  const onerror = proto.onerror;
  Object.defineProperty(proto, 'onerror', {
    value(this: Context, error: Error): void {
      const exchange = adoptedExchange(this.res);
      // null: no error (ctx.onerror may be given as a node-style callback), Koa returns.
      if (exchange === undefined || error == null) {
        onerror.call(this, error);
        return;
      }
      // Reported already: the response closed with the error the adapter cut it with.
      if (cutWith.has(error)) return;
      const { refusal } = exchange;
      // A non-Error wrapped as Koa would wrap it: its 'error' listeners and the outcome get the same Error.
      const cause = refusal !== undefined && (error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE' ? refusal as Error : thrownError(error);
      // The head is out on a live connection: Koa can send no error response, and leaves this one open for good.
      const cut = this.headerSent && this.writable;
      try {
        within(exchange, () => onerror.call(this, cause));
      } finally {
        // Also when an 'error' listener threw (Koa lets that out): the response is not left open for it.
        if (cut) {
          cutWith.add(cause);
          cutShort(this.res, cause);
        }
      }
    },
    configurable: true,
    writable: true,
  });
  Object.defineProperty(proto, kReady, { value: true });
}

/**
 * Koa middleware that gives every request after it Coda's after-response
 * work: `after()` anywhere in the request, `ctx.after()`, limits (503 with
 * `Retry-After` at `maxPending`), isolation, timeouts, durable tasks, and a
 * drained shutdown with a report once the server is `attach()`ed. Use it
 * first: `app.use(coda())`.
 */
export function coda(options: AdapterOptions = {}): KoaCoda {
  const app = adapterApp('coda-http/koa coda()', options);
  const middleware = (ctx: Context, next: Next): unknown => {
    const adopted = adopt(app, ctx.req, ctx.res);
    if (adopted === undefined) return next();
    if (adopted instanceof HttpResponse) {
      ctx.status = adopted.status;
      ctx.set(headerRecord(adopted));
      ctx.body = adopted.body;
      return undefined;
    }
    ctx.after = ctxAfter as AfterFunction;
    if ((ctx as ReadyContext)[kReady] !== true) prepare(Object.getPrototypeOf(ctx) as ReadyContext);
    // The request's own events (its 'close' as its client leaves, a body read by hand): their listeners are code of the request.
    const rest = withinEvents(adopted, ctx.req, next);
    // With `ctx.respond = false` Koa may write nothing to a client that left: the rest of the request settling is its answer.
    adopted.handling(rest);
    return rest;
  };
  return Object.assign(middleware, adapterMethods(app));
}
