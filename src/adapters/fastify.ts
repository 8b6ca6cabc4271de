/**
 * Coda's after-response work in a Fastify app, as a Fastify plugin:
 * `coda-http/fastify`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { after } from 'coda-http';
 * import { coda } from 'coda-http/fastify';
 *
 * const fastify = Fastify();
 * await fastify.register(coda, { after: { maxPending: 10_000 } });
 * fastify.post('/notes', async (request, reply) => {
 *   after(() => search.index(request.body), { name: 'index-note' }); // anywhere in the request
 *   reply.after(({ outcome }) => audit.write(outcome));               // on this reply
 *   return reply.code(201).send(request.body);
 * });
 * await fastify.listen({ port: 3000 });
 * const report = await fastify.coda.close(); // fastify.close(), drained, with the report
 * ```
 */
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { App } from '../app/app.js';
import { HttpResponse } from '../http/response.js';
import { drainApp, type ShutdownReport } from '../server/close.js';
import { Http2Sessions } from '../server/http2-sessions.js';
import { adoptedExchange } from '../transport/node/adopt.js';
import { closingServer, serverOf } from '../transport/node/closing-servers.js';
import { isPromise } from '../util/is-promise.js';
import { checkMs } from '../util/options.js';
import { adapterApp, adopt, afterFor, flushWritten, headerRecord, reenter, withinEvents, type AdapterOptions, type AfterFunction } from './adapter.js';
import { signalsInContext } from './fastify-signal.js';
import { noteStreamErrors } from './fastify-stream-errors.js';

export * from './exports.js';

/** The plugin's options: the adapter's, and how long `fastify.close()` lets the tasks drain. */
export interface FastifyCodaOptions extends AdapterOptions {
  /** How long `fastify.close()` waits for requests in flight and pending tasks before it aborts the rest. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
}

/** `fastify.coda`. */
export interface FastifyCoda {
  /**
   * The Coda app behind the plugin: `afterStats()`, `settle()` (await the
   * tasks in tests), `tasks` (durable tasks: `enqueue()`, `stats()`, ...)
   * and `signals`.
   */
  readonly app: App;
  /**
   * `fastify.close()`, with the drain's deadline (default the plugin's
   * `shutdownTimeoutMs`), resolving with the shutdown report: tasks run,
   * tasks abandoned at the deadline (name and request id), durable tasks
   * left in the store.
   */
  close(options?: { timeoutMs?: number }): Promise<ShutdownReport>;
}

declare module 'fastify' {
  interface FastifyInstance {
    coda: FastifyCoda;
  }
  interface FastifyReply {
    /** Runs a task after this reply was sent (or the client went away); a `task()` with its payload durably. See coda-http/fastify. */
    after: AfterFunction;
  }
}

/** What Fastify itself reads from a plugin's options (`register(plugin, { prefix })`). */
const FASTIFY_KEYS = ['prefix', 'logLevel', 'logSerializers'];

const replyAfter = afterFor('reply.after()', (reply: FastifyReply) => reply.raw);

/**
 * The Fastify plugin: every request gets Coda's after-response work:
 * `after()` anywhere in the request, `reply.after()`, limits (503 with
 * `Retry-After` at `maxPending`), isolation, timeouts, durable tasks (the
 * store opens on `ready`), and `fastify.close()` drains the tasks and logs
 * the shutdown report (`fastify.coda.close()` resolves with it). Not
 * encapsulated: register it once, at the root, before the routes.
 */
const plugin: FastifyPluginCallback<FastifyCodaOptions> = (fastify, options, done) => {
  try {
    install(fastify, options);
  } catch (error) {
    // A callback plugin's throw is not caught by Fastify's loader: it would crash the process instead of failing `register()`.
    done(error as Error);
    return;
  }
  done();
};

function install(fastify: FastifyInstance, options: FastifyCodaOptions): void {
  // Fastify's own decorator check sees this instance only: one encapsulated in another that has Coda would get a second app, its hooks run twice.
  if (fastify.hasDecorator('coda')) {
    throw new Error('coda-http/fastify is registered already, on this instance or one it is encapsulated in: register it once, at the root (a second one would run every request through a second Coda app)');
  }
  const own: Record<string, unknown> = { ...options };
  for (const key of FASTIFY_KEYS) delete own[key];
  const app = adapterApp('coda-http/fastify plugin options', own, ['shutdownTimeoutMs']);
  let timeoutMs = checkMs('coda-http/fastify: shutdownTimeoutMs', (own as FastifyCodaOptions).shutdownTimeoutMs ?? 10_000);
  let draining: Promise<ShutdownReport> | undefined;
  // The servers Fastify listens with besides fastify.server, one per other address its host resolves to ('localhost': 127.0.0.1 and ::1), as their requests come.
  const secondary = new Set<object>();
  // Over HTTP/2 (Fastify({ http2: true })): on Node 22 the server's close waits for its clients to close their sessions (Fastify's http2SessionTimeout, 72 s).
  const sessions = new Http2Sessions();
  sessions.watch(fastify.server);
  const drain = (): Promise<ShutdownReport> => {
    if (draining === undefined) {
      sessions.close();
      // They stop with fastify.server: their replies in flight ask for their connection's close too.
      for (const server of secondary) closingServer(server);
      // Fastify's replies in flight ask for their connection's close from now on (see AdoptedExchange.closeConnection).
      draining = drainApp(app, timeoutMs, fastify.server);
    }
    return draining;
  };

  fastify.decorate('coda', {
    app,
    async close(closeOptions: { timeoutMs?: number } = {}): Promise<ShutdownReport> {
      if (closeOptions.timeoutMs !== undefined) timeoutMs = checkMs('fastify.coda.close(): timeoutMs', closeOptions.timeoutMs);
      await fastify.close();
      return drain();
    },
  } satisfies FastifyCoda);
  fastify.decorateReply('after', replyAfter as AfterFunction);
  noteStreamErrors(fastify, app.logger);
  // Only on errors: one once the head is out (a throw after reply.raw.write()) is why Fastify then destroys the response,
  // at once: what was written before goes out first, as the other adapters' cuts let it.
  fastify.addHook('onError', (_request, reply, error, done) => {
    const res = reply.raw;
    adoptedExchange(res)?.failed(error);
    if (res.headersSent) flushWritten(res);
    // The later onError hooks and the error handler are code of the request, also for an error Fastify raises from outside
    // its async context (a route's handlerTimeout, from a timer set before the onRequest hooks).
    reenter(res, done);
  });

  fastify.addHook('onRequest', (request, reply, next) => {
    answeringReplies(reply);
    const adopted = adopt(app, request.raw, reply.raw);
    if (adopted === undefined) {
      next();
    } else if (adopted instanceof HttpResponse) {
      void reply.code(adopted.status).headers(headerRecord(adopted)).send(adopted.body);
    } else {
      const server = serverOf(request.raw.socket);
      if (server !== undefined && server !== fastify.server) {
        if (!secondary.has(server)) {
          secondary.add(server);
          sessions.watch(server as EventEmitter);
        }
        // An HTTP/2 request's session may have opened before the server was watched (adding one twice does nothing).
        const session = (request.raw as { stream?: { session?: ServerHttp2Session } }).stream?.session;
        if (session !== undefined) sessions.add(session);
      }
      // The request's 'close' aborts request.signal and runs the onRequestAbort hooks: code of the request, in its context.
      withinEvents(adopted, request.raw, next);
    }
  });
  fastify.addHook('onRoute', (route) => {
    route.handler = answering(route.handler);
    // Fastify's types leave handlerTimeout out of initialConfig, which has it.
    signalsInContext(route, (fastify.initialConfig as { handlerTimeout?: number }).handlerTimeout);
  });
  // Fastify runs the onTimeout hooks from the socket's 'timeout' (its connectionTimeout), outside the request's context: the later ones
  // in it. Only then: any onTimeout hook costs every request a note on its socket.
  if (fastify.initialConfig.connectionTimeout! > 0) fastify.addHook('onTimeout', (_request, reply, done) => reenter(reply.raw, done));
  // A body read through another stream's events (a preParsing hook's: a decompressor), or by a parser that waits on other I/O, loses the async context: the handler gets it back here.
  fastify.addHook('preValidation', (_request, reply, next) => reenter(reply.raw, next));
  fastify.addHook('onReady', async () => {
    if (app.tasks.defined) await app.tasks.open();
  });
  // Before Fastify stops the server: the drain starts at once (requests in flight are counted), and onClose awaits it.
  fastify.addHook('preClose', (next) => {
    void drain();
    next();
  });
  fastify.addHook('onClose', async () => {
    await drain();
  });
}

/**
 * The route's handler, its promise (an async handler's) given to Coda: Fastify
 * sends nothing for one that resolves with no payload once its client has
 * left, and a streamed payload none of its bytes, so that promise settling
 * is what says the handler has answered (see AdoptedExchange.answered), but
 * for a reply the handler sends later (see `sentLater`). A handler of the
 * callback style answers with its `reply.send()` (see `answeringReplies`).
 */
function answering(handler: RouteHandlerMethod): RouteHandlerMethod {
  return function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const result = handler.call(this, request, reply);
    if (isPromise(result)) adoptedExchange(reply.raw)?.handling(unlessSentLater(result, reply));
    return result;
  } as RouteHandlerMethod;
}

/**
 * Replies their handler returned or awaited before sending them, Fastify's
 * way to send later from an async handler (`return reply`, `await reply`): a
 * reply is a thenable, which settles the handler's promise once the response
 * closes, as its client leaves too; that is no answer, the later `send()` is.
 */
const sentLater = new WeakSet<FastifyReply>();

/**
 * The handler's promise as its answer, unless its reply is sent later (see
 * `sentLater`): then its client having left is, a turn later, once the
 * request's `'close'` listeners (request.signal's, the onRequestAbort hooks)
 * and what they queued have run without a `send()`: a long poll that only
 * cleans up then would otherwise stay in flight for good. A `send()` after
 * that still registers its tasks, as the request's.
 */
function unlessSentLater(result: PromiseLike<unknown>, reply: FastifyReply): PromiseLike<unknown> {
  return {
    then: (settled, failed) => result.then((value) => {
      if (sentLater.has(reply)) setImmediate(() => settled?.(value));
      else settled?.(value);
    }, failed) as never,
  };
}

const kAnswering = Symbol('coda.fastify.answering');
type ReplyClass = Pick<FastifyReply, 'send' | 'then'> & { [kAnswering]?: true };

/**
 * Fastify's Reply class (of the Fastify that made `reply`), once: its
 * `send()` says the handler has answered (to a client that left, Fastify
 * writes no byte of a web ReadableStream, a fetch() Response's body, and
 * ends nothing, which left the request in flight for good); its `then()`,
 * called for a reply not sent yet, notes that reply as sent later. On the
 * class, not on each reply: nothing on a request's path but those calls.
 */
function answeringReplies(reply: FastifyReply): void {
  if ((reply as unknown as ReplyClass)[kAnswering] === true) return;
  let proto = Object.getPrototypeOf(reply) as ReplyClass | null;
  while (proto !== null && !Object.hasOwn(proto, 'send')) proto = Object.getPrototypeOf(proto) as ReplyClass | null;
  if (proto === null) throw new Error('coda-http/fastify: this Fastify\'s reply has no send() of its class (this plugin knows Fastify 5\'s)');
  const { send, then } = proto;
  Object.defineProperties(proto, {
    send: {
      value(this: FastifyReply, payload?: unknown): FastifyReply {
        adoptedExchange(this.raw)?.answered();
        return send.call(this, payload);
      },
      configurable: true,
      writable: true,
    },
    then: {
      value(this: FastifyReply, fulfilled: () => void, rejected: (error: Error) => void): void {
        if (!this.sent) sentLater.add(this);
        then.call(this, fulfilled, rejected);
      },
      configurable: true,
      writable: true,
    },
    [kAnswering]: { value: true },
  });
}

// What fastify-plugin sets: the plugin's hooks and decorators belong to the instance it is registered on, not to a child context.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'coda-http',
  [Symbol.for('plugin-meta')]: { name: 'coda-http', fastify: '5.x' },
});

export { plugin as coda };
