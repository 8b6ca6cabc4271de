/**
 * Coda: five synchronous hooks middlewares (processRequest reads a header,
 * processResponse sets one), the first also registering the request's after
 * task with `after()` (so the 500s of `errors`, which never reach the view,
 * get one too), in `errors` a sixth that throws, and Coda's own error
 * rendering. In `durable` the after task is a durable task, journaled in a
 * SQLite file (in a temporary folder, removed at exit) before the response's
 * first byte and run by this process once the response is done. Logging is
 * silenced (pino at level silent), as for every peer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { after, createApp, get, HttpResponse, JsonResponse, serve, sqliteStore, task as durableTask, type Middleware } from '../../src/index.js';
import { afterTask, HELLO, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';
import { observeOptions } from './observe-options.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const counted = scenario === 'durable' && task !== undefined ? durableTask('count', task) : undefined;

const middleware: Middleware[] = STACK_HEADERS.map((name, i): Middleware => ({
  name,
  processRequest(request) {
    if (i === 0 && counted !== undefined) after(counted, {});
    else if (i === 0 && task !== undefined) after(task);
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
  // Durable tasks as unbounded as the after tasks above (the default runs 16 at once: the rest of a turn's would wait in the store for a claim).
  ...(counted === undefined ? {} : { tasks: { definitions: [counted], store: sqliteStore({ path: journalFile() }), concurrency: 10_000 } }),
  // Tracing, metrics, access log: see observe-options.ts (bench/observe.ts).
  ...(await observeOptions()),
});

/** The durable scenario's store file, in a folder of its own that goes when the process does. */
function journalFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coda-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'tasks.db');
}

const server = await serve(app, { port, host: '127.0.0.1', handleSignals: false });
await ready('coda', scenario, server.server);
