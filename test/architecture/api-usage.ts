// The snippets of ../shared/design/api.md that api.test.ts does not write out,
// as a user's file writes them: `npm test`'s type-check covers it against src/,
// scripts/check-pack.sh copies it into a consumer project and type-checks it
// against the shipped .d.ts (so it imports nothing but coda-http and node:).
// Each @ts-expect-error is a wrong use api.md implies: it must keep failing to
// compile. api.test.ts runs what is built here.
import http from 'node:http';
import {
  createApp, serve, route, get, post, put, HttpRequest, HttpResponse, redirect,
  HttpError, Unauthorized, NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType,
  after, signals, task, NonRetryableError, runWorker, sqliteStore, metricsView, dashboard, onShutdown,
  type App, type Handler, type MiddlewareFactory, type MiddlewareHooks, type Middleware, type View,
  type Outcome, type AfterTask, type AfterOptions, type StandardSchemaV1, type Logger,
} from 'coda-http';
import { createTestClient, type TestClient } from 'coda-http/testing';
import { bullmqStore } from 'coda-http/bullmq';

/** A Standard Schema of a `{ name: string }` body, as a validation library hands one over. */
export const nameSchema: StandardSchemaV1<unknown, { name: string }> = {
  '~standard': {
    version: 1,
    vendor: 'api-usage',
    validate: (value) => typeof (value as { name?: unknown } | null)?.name === 'string'
      ? { value: value as { name: string } }
      : { issues: [{ message: 'name must be a string', path: ['name'] }] },
  },
};

/** Names, in order, of what the hooks below saw: processView's view and params, processException's error, processResponse. */
export const hookLog: string[] = [];

const hooks: MiddlewareHooks = {
  processView(_request: HttpRequest, view: View, params: Record<string, string>) {
    hookLog.push(`view ${typeof view} ${JSON.stringify(params)}`);
  },
  processException(_request: HttpRequest, error: unknown) {
    if (error instanceof NonRetryableError) return new HttpResponse('caught', { status: 418 });
  },
  processResponse(_request: HttpRequest, response: HttpResponse) {
    response.headers.append('x-hooks', 'response');
    return response;
  },
};

// api.md's own Handler: a factory whose inner function is one.
const passThrough: MiddlewareFactory = (getResponse: Handler): Handler => (request) => getResponse(request);

const audited: AfterTask = ({ request, response, outcome, signal }) => {
  hookLog.push(`after ${request.path} ${response.status} ${outcome.completed} ${signal.aborted}`);
};
const auditOptions: AfterOptions = { name: 'audited', when: 'completed', timeoutMs: 1_000 };

export const sendWelcome = task('send-welcome', async (payload: { userId: string }) => {
  hookLog.push(`welcome ${payload.userId}`);
});

/** An app with every view, option and call of api.md that api.test.ts's own apps leave out. */
export function buildApp(logger: Logger, root: string): App {
  const middleware: Middleware[] = [passThrough, hooks];
  return createApp({
    routes: [
      // A view may answer a Web-standard Response.
      get('/web/:id', (request) => new Response(`web ${request.params.id}`, { status: 200, headers: { 'x-web': '1' } })),
      get('/headers', () => {
        const response = new HttpResponse(new TextEncoder().encode('bytes'), { status: 200, headers: { 'x-a': '1' } });
        response.headers.set('x-b', '2');
        response.headers.append('set-cookie', 'a=1');
        response.headers.append('set-cookie', 'b=2');
        response.headers.delete('x-a');
        if (!response.headers.has('x-a') && response.headers.get('x-b') === '2') response.after(audited, auditOptions);
        return response;
      }),
      get('/moved', () => redirect('/headers', 301)),
      get('/teapot', () => { throw new HttpError(418, 'short and stout'); }),
      get('/401', () => { throw new Unauthorized(); }),
      get('/404', () => { throw new NotFound('no such thing'); }),
      get('/405', () => { throw new MethodNotAllowed(['GET']); }),
      get('/413', () => { throw new PayloadTooLarge(); }),
      get('/415', () => { throw new UnsupportedMediaType(); }),
      get('/caught', () => { throw new NonRetryableError('for processException'); }),
      get('/boom', () => { throw new Error('boom'); }),
      post('/named', async (request) => {
        const { name } = await request.json(nameSchema);
        return new HttpResponse(`hello ${name}`);
      }),
      get('/cookies', (request) => {
        const response = new HttpResponse(`${request.signedCookies.get('session') ?? 'none'}`);
        response.setCookie('session', 'u1', { signed: true });
        return response.deleteCookie('theme');
      }),
      put('/welcome/:id', async (request) => {
        await after(sendWelcome, { userId: request.params.id });
        return new HttpResponse(null, { status: 204 });
      }),
      get('/metrics', metricsView()),
      ...dashboard({ path: '/coda', authorize: (request) => request.headers.get('x-admin') === 'yes' }),
    ],
    middleware,
    logger,
    errorPages: { 500: () => new HttpResponse('our fault', { status: 500 }) },
    secret: 'a secret of the test, long enough to sign with',
    tasks: { definitions: [sendWelcome], store: sqliteStore({ path: `${root}/tasks.db` }) },
  });
}

/** api.md's Server and app.handler: a node:http server of the user's own, and serve() with what api.md gives it. */
export function servers(app: App): { own: http.Server; served: () => ReturnType<typeof serve> } {
  return { own: http.createServer(app.handler), served: () => serve(app, { port: 0, host: '127.0.0.1', handleSignals: false }) };
}

/** api.md's signals: each connect() answers its disconnect function. */
export function connectSignals(seen: string[]): () => void {
  const started = signals.requestStarted.connect(({ request }) => void seen.push(`started ${request.path}`));
  const finished = signals.requestFinished.connect(({ request, response, outcome }: { request: HttpRequest; response: HttpResponse; outcome: Outcome }) => {
    seen.push(`finished ${request.path} ${response.status} ${outcome.status}`);
  });
  return () => {
    started();
    finished();
  };
}

/** api.md's test client calls not written in api.test.ts. */
export async function clientCalls(client: TestClient): Promise<string> {
  const res = await client.put('/welcome/9');
  await client.settle();
  return `${res.status} ${client.tasks.map(({ name, requestId, state, error }) => `${name}:${typeof requestId}:${state}:${error === undefined}`).join(',')}`;
}

/** Typed, not run (it needs Redis): the worker of api.md on bullmqStore, and serve() with TLS and HTTP/2. */
export const typedOnly = {
  worker: (host: string, port: number) => runWorker({ definitions: [sendWelcome], store: bullmqStore({ connection: { host, port } }), concurrency: 16 }),
  secure: (app: App, key: string, cert: string) => serve(app, { tls: { key, cert }, http2: true }),
  client: (app: App) => createTestClient(app),
};

/**
 * Typed, not run: work whose promise resolves to a value, as fetch() and most
 * clients' calls do, is work after the response, a durable task's, a hook's, a
 * receiver's or a shutdown hook's (the value is ignored). They answered
 * `void | Promise<void>`, so the docs' `after(() => webhooks.send(...))` with a
 * real client did not compile. A generator function still does not.
 */
export function valuedWork(app: App, response: HttpResponse, send: (signal: AbortSignal) => Promise<Response>): void {
  const redis = { set: (_key: string, _value: string): Promise<'OK'> => Promise.resolve('OK') };
  const query: PromiseLike<number[]> = { then: (onfulfilled, onrejected) => Promise.resolve([]).then(onfulfilled, onrejected) };   // a query builder
  after(({ signal }) => send(signal), { name: 'webhook' });
  response.after(() => redis.set('warm', '1'), { when: 'success' });
  after(() => query);
  task('mail', (_payload: { to: string }, { signal }) => send(signal));
  const hooks: MiddlewareHooks = { afterResponse: (_request, _response, outcome) => redis.set('status', String(outcome.status)) };
  createApp({ middleware: [hooks] });
  app.signals.requestFinished.connect(({ signal }) => send(signal));
  signals.requestStarted.connect(() => redis.set('started', '1'));
  onShutdown(() => redis.set('bye', '1'));
  // @ts-expect-error a generator function is no task: called, it would run none of its body
  after(async function* () { /* never runs */ });
  // @ts-expect-error nor a durable task's work
  task('sync', async function* () { /* never runs */ });
}

/** Wrong uses api.md implies: each line must fail to compile. Never called. */
export function wrongUses(app: App, response: HttpResponse): void {
  // @ts-expect-error a durable task's after() needs its payload
  void after(sendWelcome);
  // @ts-expect-error nor does response.after() take a durable task without it
  response.after(sendWelcome);
  // @ts-expect-error the payload is the task's: { userId: string }
  void after(sendWelcome, { userId: 7 });
  // @ts-expect-error when is 'always' | 'completed' | 'success'
  after(() => {}, { when: 'sometimes' });
  // @ts-expect-error likewise for a durable task
  void after(sendWelcome, { userId: '1' }, { when: 'sometimes' });
  // @ts-expect-error a durable task's options are when, key and delayMs, not name
  void after(sendWelcome, { userId: '1' }, { name: 'welcome' });
  // @ts-expect-error timeoutMs is a number of milliseconds
  after(() => {}, { timeoutMs: '30s' });
  // @ts-expect-error enqueue() needs the payload too
  void app.tasks.enqueue(sendWelcome);
  // @ts-expect-error a route's name is a string
  get('/x', () => new HttpResponse(''), { name: 7 });
  // @ts-expect-error a view answers a response, not a string
  get('/x', () => 'text');
  // @ts-expect-error the methods a route takes are HTTP's
  route('FETCH', '/x', () => new HttpResponse(''));
  // @ts-expect-error app.reverse() takes the route's params as strings or numbers
  app.reverse('user', { id: {} });
  // @ts-expect-error the after-response queue's limits are numbers
  createApp({ after: { concurrency: '64' } });
  // @ts-expect-error a task's backoff type is 'fixed' or 'exponential'
  task('t', () => {}, { backoff: { type: 'linear', delayMs: 1 } });
  // @ts-expect-error a redirect's status is a number
  redirect('/', '302');
}
