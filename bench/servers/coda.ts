/**
 * Coda: five synchronous hooks middlewares (processRequest reads a header,
 * processResponse sets one), the first also registering the request's after
 * task with `after()` (so the 500s of `errors`, which never reach the view,
 * get one too), in `errors` a sixth that throws, and Coda's own error
 * rendering. Logging is silenced (pino at level silent), as for every peer.
 */
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, JsonResponse, serve, type Middleware } from '../../src/index.js';
import { afterTask, HELLO, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';
import { observeOptions } from './observe-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);

const middleware: Middleware[] = STACK_HEADERS.map((name, i): Middleware => ({
  name,
  processRequest(request) {
    if (i === 0 && task !== undefined) after(task);
    request.state[name] = request.headers.get(name) ?? MISSING;
  },
  processResponse(request, response) {
    response.headers.set(name, request.state[name] as string);
    return response;
  },
}));
if (scenario === 'errors') middleware.push({ name: 'fail', processRequest: maybeFail });

const app = createApp({
  routes: scenario === 'hello'
    ? [get('/', () => new HttpResponse(HELLO))]
    : [get('/users/:id', (request) => new JsonResponse({ id: request.params.id }))],
  middleware: scenario === 'hello' ? [] : middleware,
  logger: pino({ level: 'silent' }),
  // The default (64 jobs at once) caps 50 ms tasks at 1,280/s: under load the
  // queue would fill and Coda would answer 503. Peers run their tasks unbounded.
  after: { concurrency: 10_000 },
  // The default is on; CODA_BENCH_ASYNC_CONTEXT=0 measures what AsyncLocalStorage costs.
  asyncContext: process.env.CODA_BENCH_ASYNC_CONTEXT !== '0',
  // Tracing, metrics, access log: see observe-options.ts (bench/observe.ts).
  ...(await observeOptions()),
});

const server = await serve(app, { port, host: '127.0.0.1', handleSignals: false });
await ready('coda', scenario, server.server);
