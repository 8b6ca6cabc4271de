import { readFileSync } from 'node:fs';
import type { App, MountableRoute } from '../app/app.js';
import { NotFound, PermissionDenied, ServiceUnavailable, HttpError } from '../http/errors.js';
import type { HttpRequest } from '../http/request.js';
import { HttpResponse, JsonResponse } from '../http/response.js';
import { StreamingResponse } from '../http/streaming-response.js';
import type { View } from '../pipeline/types.js';
import { get, post, type Route } from '../routing/routes.js';
import { StoreUnavailable } from '../durable/errors.js';
import { kClosingSignal, kMount, kOnServerClosing } from '../symbols.js';
import { isClosing } from '../transport/node/closing-servers.js';
import { describe } from '../util/describe.js';
import { echo } from '../util/echo.js';
import { checkCount, checkKeys, checkMs } from '../util/options.js';
import { Broadcast } from './broadcast.js';
import { Recorder } from './recorder.js';
import { streamLink, type StreamLink } from './stream-link.js';
import { causeSaidOnce } from '../log/cause-once.js';

/** `dashboard()`'s options: `authorize` is required. */
export interface DashboardOptions {
  /** Where the page is served (`/coda`), behind the prefix of an include() it is in; its event stream, script and actions live below it. Default `/coda`. */
  path?: string;
  /**
   * Decides who may see the dashboard and act on tasks: true lets the request
   * in, false refuses it with 403 (throw `Unauthorized` for a 401). Required:
   * the page shows payloads and request paths. An open event stream asks it
   * again before each message it sends, and ends once refused.
   */
  authorize: (request: HttpRequest) => boolean | Promise<boolean>;
  /** How often the page's figures are refreshed while it is open. Default 1,000 ms. */
  intervalMs?: number;
  /** A comment is sent on an idle event stream this often, for proxies. Default 15,000 ms. */
  heartbeatMs?: number;
  /** Pages open at once (each holds one event stream); more get 503. Default 10. */
  maxClients?: number;
  /** Recent requests kept, with the tasks they caused. Default 50. */
  recentRequests?: number;
}

const KEYS = ['path', 'authorize', 'intervalMs', 'heartbeatMs', 'maxClients', 'recentRequests'];
/** A plain path: no route syntax (`:param`, `*`) and nothing to escape in HTML. */
const PATH = /^(\/[A-Za-z0-9._~-]+)+$/;
/** The header the page's POSTs carry: a cross-site form cannot set it, and a cross-site script cannot without a CORS preflight the app does not answer. */
const ACTION_HEADER = 'x-coda-dashboard';
/** Each of the dashboard's answers carries request data (paths, task names, payloads): never to be sniffed as HTML. */
const NOSNIFF = { 'x-content-type-options': 'nosniff' };
/** A JSON answer's headers: task data, kept by no cache either. */
const JSON_HEADERS = { headers: { 'cache-control': 'no-store', ...NOSNIFF } };

const assets = new URL('./assets/', import.meta.url);
/** Where each app's dashboard is: a second one would count the first's own requests (and its streams in flight) as traffic. */
const mountedAt = new WeakMap<App, string>();
let page: string | undefined;
let script: string | undefined;

/**
 * A live dashboard served by the app itself: requests per second, in flight
 * and p95 latency, tasks by state with throughput and p95 wait and run per
 * task, the oldest waiting task, failed durable tasks (payload, attempts,
 * errors) with Retry and Discard, and the latest requests with the tasks they
 * caused, all updated over server-sent events. Every route asks `authorize`
 * first. Nothing is recorded unless these routes are in an app.
 *
 * @example
 * ```ts
 * const app = createApp({
 *   routes: [
 *     ...apiRoutes,
 *     ...dashboard({ path: '/coda', authorize: (request) => request.headers.get('authorization') === `Bearer ${process.env.ADMIN_TOKEN}` }),
 *   ],
 * });
 * ```
 */
export function dashboard(options: DashboardOptions): Route[] {
  checkKeys('dashboard()', options, KEYS);
  const { authorize } = options;
  if (typeof authorize !== 'function') {
    throw new TypeError(`dashboard(): authorize is required: a function that returns true for requests allowed to see the dashboard, got ${describe(authorize)}`);
  }
  const path = options.path ?? '/coda';
  if (typeof path !== 'string' || !PATH.test(path)) {
    throw new TypeError(`dashboard(): path must be a plain path such as "/coda" (letters, digits, ".", "_", "~", "-" between slashes, no trailing slash), got ${describe(path)}`);
  }
  const recorder = new Recorder(checkCount('dashboard(): recentRequests', options.recentRequests ?? 50));
  let app: App | undefined;
  /** Where the page is served: `path`, behind the prefix of any include() the routes are in. */
  let base = path;
  const broadcast: Broadcast = new Broadcast(
    {
      intervalMs: checkMs('dashboard(): intervalMs', options.intervalMs ?? 1_000),
      heartbeatMs: checkMs('dashboard(): heartbeatMs', options.heartbeatMs ?? 15_000),
      maxClients: checkCount('dashboard(): maxClients', options.maxClients ?? 10),
    },
    async (): Promise<string> => JSON.stringify(await recorder.snapshot(broadcast.size)),
    (error) => app?.logger.error({ err: causeSaidOnce(error) }, 'dashboard: could not make a snapshot'),
  );

  const checkAllowed = async (request: HttpRequest): Promise<void> => {
    const allowed: unknown = await authorize(request);
    if (allowed === false) throw new PermissionDenied('the dashboard is not available to this request (authorize() returned false)');
    if (allowed !== true) throw new TypeError(`dashboard(): authorize() must return true or false, got ${describe(allowed)}`);
  };
  const guard = (view: View): View => async (request) => {
    await checkAllowed(request);
    recorder.admit(request);
    return view(request);
  };
  // An open stream asks again before each message it sends: a user logged out or demoted since it opened gets no more.
  const stillAllowed = (request: HttpRequest) => (): Promise<boolean> => checkAllowed(request).then(() => true, (error: unknown) => {
    if (!(error instanceof HttpError)) app?.logger.error({ err: causeSaidOnce(error) }, 'dashboard: authorize() failed for an open event stream, which is ended');
    return false;
  });
  /** Why no stream may open on `link` now (its server closing, `maxClients` open), else undefined. The page tries again in 5 s: another server of the app, or this one started again. */
  const refusal = (link: StreamLink): ServiceUnavailable | undefined => {
    if (app?.[kClosingSignal].aborted === true || (link.server !== undefined && isClosing(link.server))) return new ServiceUnavailable('the server is shutting down', 5);
    if (!broadcast.accepting) return new ServiceUnavailable('too many dashboard pages are open (maxClients); close one or raise maxClients', 5);
    return undefined;
  };
  const action = (act: (tasks: App['tasks'], id: string) => Promise<HttpResponse>): View => guard(async (request) => {
    checkSameSite(request);
    if (app === undefined || !app.tasks.defined) throw new NotFound('this app has no durable tasks');
    let response: HttpResponse;
    try {
      response = await act(app.tasks, request.params['id']!);
    } catch (error) {
      // The store down (its file locked, Redis away) is a 503 to try again, as a registration's, not a 500 with a stack.
      if (error instanceof StoreUnavailable) throw new ServiceUnavailable(`the task could not be acted on now: ${error.message}`);
      throw error;
    }
    broadcast.refresh();
    return response;
  });

  const routes: MountableRoute[] = [
    get(path, guard(() => html(pageText(base)))),
    get(`${path}/dashboard.js`, guard(() => new HttpResponse(scriptText(), { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', ...NOSNIFF } }))),
    // The open event streams and this request are the dashboard's own: not counted in flight.
    get(`${path}/snapshot`, guard(async () => new JsonResponse(await recorder.snapshot(broadcast.size + 1), JSON_HEADERS))),
    get(`${path}/events`, guard((request) => {
      const link = streamLink(request);
      const early = refusal(link);
      if (early !== undefined) throw early;
      // Asked again as the stream opens: a middleware that awaits after the view (a session saved) let others open, or the server begin to close, meanwhile.
      return new StreamingResponse((signal) => {
        const late = refusal(link);
        return late === undefined ? broadcast.subscribe(signal, stillAllowed(request), link) : refused(late);
      }, {
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', ...NOSNIFF },
      });
    })),
    post(`${path}/tasks/:id/retry`, action(async (tasks, id) => {
      if (await tasks.retry(id)) return new JsonResponse({ id, retried: true }, JSON_HEADERS);
      throw await notActionable(tasks, id, 'retried: only a failed task can be');
    })),
    post(`${path}/tasks/:id/discard`, action(async (tasks, id) => {
      if (await tasks.discard(id)) return new JsonResponse({ id, discarded: true }, JSON_HEADERS);
      throw await notActionable(tasks, id, 'discarded while it is running');
    })),
  ];
  Object.assign(routes[0]!, {
    [kMount]: (mounted: App, at: string) => {
      // The page names its script, stream and actions by this path, in HTML: plain, as `path` is.
      if (!PATH.test(at)) {
        throw new TypeError(`dashboard(): its routes are mounted at ${JSON.stringify(at)} (an include() prefix in front of "${path}"): the whole path must be plain too (letters, digits, ".", "_", "~", "-" between slashes; no parameters)`);
      }
      const other = mountedAt.get(mounted);
      if (other !== undefined) throw new TypeError(`dashboard(): this app has a dashboard at ${other} already; one per app (a second, at ${at}, would count the first's own requests as traffic)`);
      recorder.attach(mounted, at);
      mountedAt.set(mounted, at);
      base = at;
      app = mounted;
      // Only the closing server's streams end (their page reconnects to another); every one once all the app's servers close.
      mounted[kOnServerClosing]((server, whole) => broadcast.end(server, whole));
    },
  });
  return routes;
}

/** A stream that fails before its first byte: its error's own response is sent instead (a 503 with its Retry-After). */
async function* refused(error: Error): AsyncGenerator<string> {
  throw error;
}

/** Refuses a POST that did not come from the dashboard's own page. */
function checkSameSite(request: HttpRequest): void {
  if (request.headers.get(ACTION_HEADER) !== '1') {
    throw new PermissionDenied(`dashboard actions need the ${ACTION_HEADER}: 1 header (sent by the dashboard's page; a guard against cross-site requests)`);
  }
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin' && site !== 'none') throw new PermissionDenied(`dashboard actions are refused from another site (Sec-Fetch-Site: ${site})`);
}

/** 404 when there is no such task (its id, the client's, cut as any input echoed), else 409 saying why this one cannot be acted on. */
async function notActionable(tasks: App['tasks'], id: string, why: string): Promise<HttpError> {
  const task = await tasks.get(id);
  if (task === null) return new NotFound(`no durable task ${echo(id)}`);
  return new HttpError(409, `task ${id} is ${task.state}: it cannot be ${why}`);
}

function html(text: string): HttpResponse {
  return new HttpResponse(text, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The page runs its own script only, talks to its own origin only, and is never framed.
      'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      ...NOSNIFF,
    },
  });
}

function pageText(path: string): string {
  page ??= readFileSync(new URL('dashboard.html', assets), 'utf8');
  return page.replaceAll('%BASE%', path);
}

function scriptText(): string {
  return (script ??= readFileSync(new URL('dashboard.js', assets), 'utf8'));
}
