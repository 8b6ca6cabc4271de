import type { SchedulerOptions } from '../after/scheduler-options.js';
import type { TasksOptions } from '../durable/tasks.js';
import type { BodyOptions } from '../http/body-options.js';
import type { TrustProxy } from '../http/client-address.js';
import type { Secret } from '../http/signing.js';
import type { Logger } from '../log/logger.js';
import { checkErrorPages, type ErrorPages } from '../pipeline/error-pages.js';
import type { ObserveOptions } from '../observe/observer.js';
import type { Middleware } from '../pipeline/types.js';
import type { RouteEntry } from '../routing/include.js';
import type { kAdapted } from '../symbols.js';
import { describe } from '../util/describe.js';
import { checkBoolean, checkKeys } from '../util/options.js';

/** Besides these, the observability options: `tracing`, `metrics`, `accessLog`, `requestIdHeader` (docs/observability.md). */
export interface AppOptions extends ObserveOptions {
  /** Routes (`get()`, `route()`, ...), groups of them (`include()`) and static files (`staticFiles()`). */
  routes?: readonly RouteEntry[];
  /** Outermost first, as in Django's MIDDLEWARE setting. */
  middleware?: readonly Middleware[];
  /** Shows stacks in 500 responses and logs left-out middleware. Never in production. */
  debug?: boolean;
  /** Request body limit in bytes, for every route without its own. Default 1 MiB. */
  bodyLimit?: number;
  /** Limits and safety checks for parsing request bodies: form fields and files, JSON depth and prototype poisoning. */
  body?: BodyOptions;
  /** The after-response scheduler's limits and error reporting. */
  after?: SchedulerOptions;
  /** Durable tasks: their definitions, the store that journals them, and the runner's settings. */
  tasks?: TasksOptions;
  /** A pino logger (or one with the same methods). Default: pino on stdout, see docs. */
  logger?: Logger;
  /**
   * Carry the request through its async call tree (AsyncLocalStorage), so that
   * `after()` works after an `await`. Default true. Off, `after()` works only
   * in synchronous code of the request (before its first `await`), and each
   * request costs a little less (under 1 µs on Node 24).
   */
  asyncContext?: boolean;
  /**
   * Which proxies in front of the app to believe about the client
   * (`request.ip`, `ips`, `protocol`, `host`): `false` (default: forwarded
   * headers are ignored), `true` (every hop), a number of hops, a list of
   * addresses and CIDR ranges (`'loopback'`, `'linklocal'`, `'uniquelocal'`
   * name the usual ones), or `(address, hop) => boolean`.
   */
  trustProxy?: TrustProxy;
  /**
   * The hosts this app serves (Django's ALLOWED_HOSTS): `'example.com'`
   * exactly, `'.example.com'` for it and its subdomains, `'*'` for any. A
   * request for another host, or with no valid Host, is answered 400 before
   * any middleware runs, so that a forged Host never reaches links, redirects
   * or caches built from `request.host`. Ports are ignored. Default: any host.
   */
  allowedHosts?: string[];
  /**
   * The secret that signs cookies (`setCookie(..., { signed: true })`,
   * `request.signedCookies`): a random string of 32 characters or more kept
   * out of the code, or a list of them to rotate secrets (the first signs, all
   * verify). A shorter one is taken with a warning on the app's logger: it
   * could be guessed from a cookie.
   */
  secret?: Secret;
  /**
   * Views for error responses, by status (Django's `handler404` and friends):
   * `(request, error) => response`, used for routing errors (404, 405, 400)
   * too. Statuses without a page keep the built-in JSON or text response.
   */
  errorPages?: ErrorPages;
  /**
   * A request that matches no route, on a path without a trailing slash whose
   * slash form has routes, is redirected there (Django's APPEND_SLASH): 301
   * for GET and HEAD, 308 for other methods. Default false.
   */
  appendSlash?: boolean;
  /** @internal Set by an adapter (`where` it is, for errors): `tracing` and `metrics` observe the tasks alone. */
  [kAdapted]?: string;
}

const KEYS = ['routes', 'middleware', 'debug', 'bodyLimit', 'body', 'after', 'tasks', 'logger', 'asyncContext', 'trustProxy', 'allowedHosts', 'secret', 'errorPages', 'appendSlash', 'tracing', 'metrics', 'accessLog', 'requestIdHeader'];
const LOGGER_METHODS = ['error', 'warn', 'info', 'debug', 'child'];

/**
 * Refuses what plain JavaScript would pass silently: an unknown key (`route:`
 * for `routes:`), a list that is not an array, a flag that is not a boolean, a
 * logger without pino's methods.
 */
export function checkAppOptions(options: AppOptions): void {
  checkKeys('createApp()', options, KEYS);
  for (const key of ['routes', 'middleware'] as const) {
    if (options[key] !== undefined && !Array.isArray(options[key])) throw new TypeError(`createApp(): ${key} must be an array, got ${describe(options[key])}`);
  }
  for (const key of ['debug', 'asyncContext', 'appendSlash'] as const) {
    if (options[key] !== undefined) checkBoolean(`createApp(): ${key}`, options[key]);
  }
  if (options.errorPages !== undefined) checkErrorPages(options.errorPages);
  const { logger } = options;
  if (logger !== undefined) {
    const missing = LOGGER_METHODS.filter((method) => typeof (logger as unknown as Record<string, unknown> | null)?.[method] !== 'function');
    if (missing.length > 0) throw new TypeError(`createApp(): logger must be a pino logger (or have its methods); it lacks ${missing.join(', ')}`);
  }
}
