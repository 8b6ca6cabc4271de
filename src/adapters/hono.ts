/**
 * Coda's after-response work in a Hono app on @hono/node-server:
 * `coda-http/hono`. Gives Hono's `c.executionCtx.waitUntil()` on Node too.
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
 * const { close } = tasks.attach(serve({ fetch: app.fetch, port: 3000 }) as import('node:http').Server);
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, ExecutionContext, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { register } from '../after/context.js';
import { HttpResponse } from '../http/response.js';
import { adoptedExchange } from '../transport/node/adopt.js';
import { adapterApp, adapterMethods, adopt, afterFor, headerRecord, within, type Adapter, type AdapterOptions, type AfterFunction } from './adapter.js';

export * from './exports.js';

declare module 'hono' {
  interface Context {
    /** Runs a task after this request's response was sent (or the client went away); a `task()` with its payload durably. See coda-http/hono. */
    after: AfterFunction;
  }
}

/** Coda's Hono middleware, with the adapter's `app` and `attach()`. */
export type HonoCoda = MiddlewareHandler & Adapter;

/** What @hono/node-server puts in `c.env`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;

function outgoing(c: Context): ServerResponse {
  const res = (c.env as NodeBindings)?.outgoing;
  if (res === undefined) {
    throw new Error('coda-http/hono runs on @hono/node-server, which puts the Node request and response in c.env (incoming, outgoing); this request has none');
  }
  return res;
}

const cAfter = afterFor('c.after()', outgoing);

/**
 * `c.executionCtx` on Node, as on Workers: `waitUntil(promise)` keeps the
 * promise's work under Coda's care (awaited after the response, its
 * rejection reported to `onError` instead of crashing the process, drained
 * on shutdown, abandoned at the deadline with a report). Made on first use.
 */
function executionContext(this: Context): ExecutionContext {
  const exchange = adoptedExchange(outgoing(this))!;
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
      throw new Error('c.executionCtx.passThroughOnException() has no meaning on Node: there is no origin to pass the request through to');
    },
    props: {},
  };
  Object.defineProperty(this, 'executionCtx', { value: context, configurable: true });
  return context;
}

/**
 * Hono middleware (on @hono/node-server) that gives every request after it
 * Coda's after-response work: `after()` anywhere in the request, `c.after()`,
 * `c.executionCtx.waitUntil()`, limits (503 with `Retry-After` at
 * `maxPending`), isolation, timeouts, durable tasks, and a drained shutdown
 * with a report once the server is `attach()`ed. Use it first:
 * `app.use(coda())`.
 */
export function coda(options: AdapterOptions = {}): HonoCoda {
  const app = adapterApp('coda-http/hono coda()', options);
  const middleware: MiddlewareHandler = async (c, next) => {
    const res = outgoing(c);
    const adopted = adopt(app, (c.env as NodeBindings)!.incoming!, res);
    if (adopted instanceof HttpResponse) {
      return c.body(adopted.body as string, adopted.status as ContentfulStatusCode, headerRecord(adopted));
    }
    if (adopted === undefined) {
      await next();
      return undefined;
    }
    c.after = cAfter as AfterFunction;
    // Hono has no executionCtx on Node (its getter throws): this one shadows it for this request.
    Object.defineProperty(c, 'executionCtx', { get: executionContext, configurable: true });
    await within(adopted, next);
    return undefined;
  };
  return Object.assign(middleware, adapterMethods(app));
}
