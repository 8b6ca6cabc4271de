// The six targets of the guarantee suite: Coda itself and each framework
// with its adapter (Express in its versions 5 and 4), each built from the same
// abstract routes and started on a real socket (127.0.0.1, port 0).
import type { Server as NodeServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { serve as honoServe, type HttpBindings } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { stream as honoStream } from 'hono/streaming';
import Koa from 'koa';
import {
  createApp, get, HttpResponse, post, serve, StreamingResponse,
  type AfterTask, type App, type AppOptions, type DurableTask, type Logger, type SchedulerOptions, type ShutdownReport, type TaskAfterOptions, type TasksOptions,
} from 'coda-http';
import { coda as expressCoda, type Adapter, type AfterFunction } from 'coda-http/express';
import { coda as fastifyCoda } from 'coda-http/fastify';
import { coda as honoCoda } from 'coda-http/hono';
import { coda as koaCoda } from 'coda-http/koa';

/**
 * What a route answers: a fixed body, a stream read as the client takes it,
 * chunks written by hand as the framework's users write them (`res.write()`
 * in a loop that waits for `'drain'`; Fastify's `reply.hijack()`, Koa's
 * `ctx.respond = false`, Hono's `stream()` helper), or a failure after the
 * head: `partial` written by hand (the head and a first chunk out), then
 * `failure` thrown (or given to `next()`) through the framework's own error
 * path.
 */
export type Reply =
  | { body: string | Uint8Array }
  | { stream: () => AsyncIterable<Uint8Array> }
  | { written: () => AsyncIterable<Uint8Array> }
  | { partial: string; failure: Error };

/** A route, written once for every target. */
export interface Route {
  method?: 'GET' | 'POST';
  path: string;
  /**
   * The request's own code: `after()` (from coda-http) works anywhere in it;
   * `onResponse` is the target's per-response registration (`res.after`,
   * `reply.after`, `ctx.after`, `c.after`, Coda's `response.after`). `body`
   * is the parsed JSON body of a POST. `left()` resolves once the server
   * has seen the client leave before the response was complete.
   */
  handle(onResponse: AfterFunction, body: unknown, left: () => Promise<void>): Reply | Promise<Reply>;
}

export interface TargetOptions {
  after?: SchedulerOptions;
  tasks?: TasksOptions;
  logger?: Logger;
  metrics?: AppOptions['metrics'];
  tracing?: AppOptions['tracing'];
}

/** A target, started. */
export interface Running {
  url: string;
  /** The Coda app behind it: afterStats(), settle(), tasks. */
  app: App;
  /** The framework's close, with Coda's drain: resolves with the shutdown report. */
  close(timeoutMs: number): Promise<ShutdownReport>;
}

export interface Target {
  name: string;
  start(routes: readonly Route[], options?: TargetOptions): Promise<Running>;
}

/** Resolves once `res` (Node's response) has closed: what the server sees of a client that left. */
const closeOf = (res: { once(event: 'close', listener: () => void): unknown }) => (): Promise<void> => new Promise((resolve) => res.once('close', resolve));

const urlOf = (server: NodeServer): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** A server the framework started, once listening, under the adapter's shutdown. */
async function attached(coda: Adapter, server: NodeServer): Promise<Running> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const handle = coda.attach(server, { handleSignals: false });
  return { url: urlOf(server), app: coda.app, close: (timeoutMs) => handle.close({ timeoutMs }) };
}

/** Coda's own response for a reply, with the registrations made through `onResponse` put on it. */
function codaTarget(): Target {
  return {
    name: 'coda',
    async start(routes, options = {}) {
      const app = createApp({
        ...options,
        routes: routes.map((route) => (route.method === 'POST' ? post : get)(route.path, async (request) => {
          const registrations: [AfterTask | DurableTask<unknown>, unknown, TaskAfterOptions | undefined][] = [];
          const onResponse = ((task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions) => {
            registrations.push([task, second, third]);
          }) as AfterFunction;
          const left = (): Promise<void> => new Promise((resolve) => request.signal.addEventListener('abort', () => resolve()));
          const reply = await route.handle(onResponse, route.method === 'POST' ? await request.json() : undefined, left);
          const response = 'body' in reply ? new HttpResponse(reply.body) : new StreamingResponse(streamOf(reply));
          for (const [task, second, third] of registrations) {
            if (typeof task === 'function') response.after(task, second as undefined);
            else response.after(task, second, third);
          }
          return response;
        })),
      });
      const server = await serve(app, { port: 0, host: '127.0.0.1', handleSignals: false });
      return { url: server.url, app, close: (timeoutMs) => server.close({ timeoutMs }) };
    },
  };
}

/** What Coda streams for a reply with no fixed body: a view's chunks are its stream's. */
function streamOf(reply: Exclude<Reply, { body: unknown }>): AsyncIterable<Uint8Array> {
  if ('stream' in reply) return reply.stream();
  return 'written' in reply ? reply.written() : failingAfter(reply);
}

/**
 * `chunks` written to `res` by hand, as a handler of a Node framework writes
 * them: each `write()` whose buffer is full waits for `'drain'`, or for the
 * response's `'close'` when the client has gone (then it stops); `end()` at
 * the end.
 */
async function writeByHand(res: ServerResponse, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of chunks) {
    if (res.destroyed) break;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          res.off('drain', go).off('close', go);
          resolve();
        };
        res.on('drain', go).on('close', go);
      });
    }
  }
  res.end();
}

/** Coda's way to fail after the head: a stream that throws once its first chunk is out. */
async function* failingAfter({ partial, failure }: { partial: string; failure: Error }): AsyncIterable<Uint8Array> {
  yield Buffer.from(partial);
  throw failure;
}

/** Express 5 (`express`), or 4 (`express4`, installed under that alias): one target each. */
function expressTarget(name: string, createApp: typeof express): Target {
  return {
    name,
    async start(routes, options = {}) {
      const app = createApp();
      // Express's final handler logs the errors given to next() unless in 'test'.
      app.set('env', 'test');
      const coda = expressCoda(options);
      app.use(coda);
      app.use(createApp.json());
      for (const route of routes) {
        app[route.method === 'POST' ? 'post' : 'get'](route.path, async (req, res, next) => {
          const reply = await route.handle(res.after.bind(res), req.body, closeOf(res));
          if ('body' in reply) res.send(Buffer.from(reply.body));
          else if ('written' in reply) await writeByHand(res, reply.written());
          else if ('partial' in reply) {
            res.write(reply.partial);
            next(reply.failure);
          } else {
            // pipe(), its failure destroying the response: pipeline() to a response whose client left writes nothing to it on Node 22,
            // which leaves Express nothing to say the handler answered (see docs/adapters/README.md).
            const source = Readable.from(reply.stream());
            source.on('error', (error) => res.destroy(error));
            source.pipe(res);
          }
        });
      }
      return attached(coda, app.listen(0, '127.0.0.1'));
    },
  };
}

function fastifyTarget(): Target {
  return {
    name: 'fastify',
    async start(routes, options = {}) {
      const fastify = Fastify();
      await fastify.register(fastifyCoda, options);
      for (const route of routes) {
        fastify.route({
          method: route.method ?? 'GET',
          url: route.path,
          handler: async (request, reply) => {
            const answer = await route.handle(reply.after.bind(reply), request.body, closeOf(reply.raw));
            if ('partial' in answer) {
              reply.raw.write(answer.partial);
              throw answer.failure;
            }
            if ('written' in answer) {
              // Fastify's way to write by hand: it sends nothing itself from now on.
              reply.hijack();
              reply.raw.writeHead(200);
              return writeByHand(reply.raw, answer.written());
            }
            return reply.send('body' in answer ? Buffer.from(answer.body) : Readable.from(answer.stream()));
          },
        });
      }
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      return { url: urlOf(fastify.server), app: fastify.coda.app, close: (timeoutMs) => fastify.coda.close({ timeoutMs }) };
    },
  };
}

async function readJson(stream: AsyncIterable<Buffer>): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function koaTarget(): Target {
  return {
    name: 'koa',
    async start(routes, options = {}) {
      const app = new Koa();
      app.silent = true;
      const coda = koaCoda(options);
      app.use(coda);
      app.use(async (ctx) => {
        // HEAD is a GET whose body Koa leaves out, as its routers route it.
        const route = routes.find((r) => r.path === ctx.path && (r.method ?? 'GET') === (ctx.method === 'HEAD' ? 'GET' : ctx.method));
        if (route === undefined) return;
        const reply = await route.handle(ctx.after.bind(ctx), route.method === 'POST' ? await readJson(ctx.req) : undefined, closeOf(ctx.res));
        if ('partial' in reply) {
          ctx.res.write(reply.partial);
          throw reply.failure;
        }
        if ('written' in reply) {
          // Koa's way to write by hand: it sends nothing itself.
          ctx.respond = false;
          ctx.res.writeHead(200);
          return writeByHand(ctx.res, reply.written());
        }
        ctx.body = 'body' in reply ? Buffer.from(reply.body) : Readable.from(reply.stream());
      });
      return attached(coda, app.listen(0, '127.0.0.1'));
    },
  };
}

function honoTarget(): Target {
  return {
    name: 'hono',
    async start(routes, options = {}) {
      const app = new Hono<{ Bindings: HttpBindings }>();
      const coda = honoCoda(options);
      app.use(coda);
      for (const route of routes) {
        app.on(route.method ?? 'GET', route.path, async (c) => {
          const reply = await route.handle(c.after.bind(c), route.method === 'POST' ? await c.req.json() : undefined, closeOf(c.env.outgoing));
          if ('body' in reply) return c.body(typeof reply.body === 'string' ? reply.body : new Uint8Array(reply.body));
          if ('partial' in reply) {
            c.env.outgoing.write(reply.partial);
            throw reply.failure;
          }
          if ('written' in reply) {
            // Hono's way to write by hand: its stream() helper, whose writes wait for the client.
            return honoStream(c, async (out) => {
              for await (const chunk of reply.written()) {
                if (out.aborted) break;
                await out.write(chunk);
              }
            });
          }
          return c.body(ReadableStream.from(reply.stream()) as ReadableStream<Uint8Array>);
        });
      }
      return attached(coda, honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as NodeServer);
    },
  };
}

export const targets: Record<string, Target> = {
  coda: codaTarget(),
  express: expressTarget('express', express),
  express4: expressTarget('express4', express4),
  fastify: fastifyTarget(),
  koa: koaTarget(),
  hono: honoTarget(),
};
