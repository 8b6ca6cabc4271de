import { AsyncResource } from 'node:async_hooks';
import { inspect } from 'node:util';
import { kAfterEntries, kCookies, kSetTrusted, kTaskEntries } from '../symbols.js';
import { cookieKey, expiredCookie, pendingCookie, type CookieOptions, type DeleteCookieOptions, type PendingCookie } from './cookies.js';
import { ResponseHeaders, type HeadersInit } from './headers.js';
import { bodySummary, headersSummary, type ResponseSummary } from './response-summary.js';
import { forgottenAwait, isResponseBody, wrongBody, type ResponseBody } from './response-body.js';
import { refuseOnSent } from './sending.js';
import { foreignCharset, misnamedText } from './text-charset.js';
import { currentRequest } from '../util/current-request.js';
import { describe, errorMessage } from '../util/describe.js';
import { isWhen, type When } from './when.js';
import { checkWorkFunction } from '../util/work-function.js';
import { checkKeys, checkMs } from '../util/options.js';
import type { StylizedInspectOptions } from '../util/inspect-options.js';
import type { HttpRequest } from './request.js';
import type { Outcome } from './outcome.js';
import { taskEntry, type DurableTask, type TaskAfterOptions, type TaskEntry } from './task-entry.js';

/** What an after-response task receives. */
export interface AfterContext {
  request: HttpRequest;
  response: HttpResponse;
  outcome: Outcome;
  /** Fires when the task's timeout passes or shutdown reaches its deadline. */
  signal: AbortSignal;
}

/**
 * Work for after the response. A promise or thenable it returns is awaited, its
 * value ignored (`() => fetch(url)`, `() => redis.set(k, v)` are tasks); a
 * generator is not a task (its body would never run), so no iterator is accepted.
 */
export type AfterTask = (context: AfterContext) => void | PromiseLike<unknown>;

export interface AfterOptions {
  /** Labels the task in logs, errors, metrics and the shutdown report. Absent or empty: the function's name. */
  name?: string;
  /**
   * `'always'` (default) runs the task whatever happened; `'completed'` skips it
   * when the client went away first; `'success'` runs it only for a completed
   * 2xx or 3xx response.
   */
  when?: When;
  /** Overrides the app's `after.timeoutMs` for this task: a positive number of milliseconds. */
  timeoutMs?: number;
}

/** A registered task: its options, and the async context it was registered in (it runs there). */
export interface AfterEntry {
  readonly task: AfterTask;
  readonly options: AfterOptions | undefined;
  /** The async context of the registration, where the task runs; absent for Coda's own entries (hooks, signals). */
  readonly scope: AsyncResource | undefined;
}

/**
 * A task registered by user code (`after()`, `response.after()`), checked
 * where it is registered so that a mistake fails in the code that made it.
 */
export function afterEntry(where: string, task: AfterTask, options: AfterOptions | undefined): AfterEntry {
  if (typeof task !== 'function') throw new TypeError(`${where} takes a function, got ${describe(task)}`);
  checkWorkFunction(where, task);
  if (options !== undefined) {
    // Laravel's defer(fn, 'name') names the task with a string there.
    if (typeof options === 'string') throw new TypeError(`${where} takes an options object, got ${describe(options)}; to name the task, pass { name: ${JSON.stringify(options)} }`);
    checkKeys(where, options, ['name', 'when', 'timeoutMs']);
    const { name, when, timeoutMs } = options;
    // An empty one (computed from a blank setting, say) is taken as none: the function's name, not a 500 in the request.
    if (name !== undefined && typeof name !== 'string') throw new TypeError(`${where}: name must be a string, got ${describe(name)}`);
    if (when !== undefined && !isWhen(when)) throw new TypeError(`${where}: when must be 'always', 'completed' or 'success', got ${describe(when)}`);
    if (timeoutMs !== undefined) checkMs(`${where}: timeoutMs`, timeoutMs);
  }
  // An AsyncResource is the cheap way to keep an async context (AsyncLocalStorage.snapshot() costs
  // 10x more); a process that tracks async resources (a destroy hook) sees it destroyed when collected.
  return { task, options, scope: new AsyncResource('coda.after') };
}

export interface ResponseInit {
  status?: number;
  headers?: HeadersInit;
}

/** A Content-Type that may name a charset (see `#checkText`). */
const CHARSET_PARAMETER = /charset/i;

/**
 * A response: a status, headers and a body (a string, bytes or nothing).
 * Strings are sent as UTF-8 `text/plain` unless a content type is given.
 * Coda frames it: the Content-Length is the body's, and a Transfer-Encoding
 * set by the app is dropped. A body of another type is a TypeError here and,
 * set later, a 500 when the response is sent.
 *
 * @example
 * ```ts
 * const response = new HttpResponse('created', { status: 201 });
 * response.after(({ outcome }) => audit.record(outcome.status));
 * ```
 */
export class HttpResponse {
  #status: number;
  readonly headers: ResponseHeaders;
  #body: ResponseBody;
  /**
   * @internal Tasks `after()` gave it outside any request (a response built once, sent by many views), in
   * order: every send runs them. A request's are its exchange's (see Exchange.give). Allocated on first use.
   */
  [kAfterEntries]: AfterEntry[] | undefined = undefined;
  /** @internal Durable tasks given it outside any request, likewise: each send journals them before its first byte. */
  [kTaskEntries]: TaskEntry[] | undefined = undefined;
  /** @internal Cookies set with `setCookie()`/`deleteCookie()`, by name, domain and path: written to the headers when sent. */
  [kCookies]: Map<string, PendingCookie> | undefined = undefined;

  constructor(body: ResponseBody = null, init?: ResponseInit) {
    if (!isResponseBody(body)) throw new TypeError(`${new.target.name}: ${wrongBody(body)}`);
    this.#status = checkStatus(init?.status ?? 200);
    this.headers = new ResponseHeaders(init?.headers);
    this.#body = body;
    // A 204 or 304 sends no body: no type is chosen for it (a cache takes a 304's Content-Type as the stored page's), nor its text checked.
    if (this.#status === 204 || this.#status === 304) return;
    const type = this.defaultContentType(body);
    if (type !== null && (init?.headers === undefined || !this.headers.has('content-type'))) this.headers[kSetTrusted]('content-type', type);
    else if (typeof body === 'string' && init?.headers !== undefined) HttpResponse.#checkText(new.target.name, body, this.headers.get('content-type'));
  }

  /** Text beyond ASCII under a Content-Type the app gave that names another charset than UTF-8: refused where it is made (see text-charset.ts). */
  static #checkText(made: string, text: string, contentType: string | null): void {
    // Most types name no charset: nothing to parse.
    if (contentType === null || !CHARSET_PARAMETER.test(contentType)) return;
    const charset = foreignCharset(contentType);
    if (charset !== undefined && Buffer.byteLength(text) !== text.length) throw new TypeError(`${made}: ${misnamedText(charset)}`);
  }

  /**
   * The status. Set it before the response is returned: set by its own
   * request once the response is being sent (in an after() task, an
   * afterResponse hook, its stream), it would never reach the client, and
   * is a TypeError saying so. One that is not final (1xx) or that Node
   * cannot send is a RangeError, as at construction.
   */
  get status(): number {
    return this.#status;
  }

  set status(status: number) {
    refuseOnSent(this.headers, 'response.status', 'a status set now would never reach the client; set it before the response is returned');
    this.#status = checkStatus(status);
  }

  /**
   * The body. A middleware may replace it (one of another type is a 500
   * naming it when sent). Set by its own request once the response is being
   * sent, it would never reach the client, and is a TypeError saying so.
   */
  get body(): ResponseBody {
    return this.#body;
  }

  set body(body: ResponseBody) {
    refuseOnSent(this.headers, 'response.body', 'a body set now would never reach the client; set it before the response is returned');
    this.#body = body;
  }

  /** The content type set when none is given. Subclasses override it. */
  protected defaultContentType(body: ResponseBody): string | null {
    if (body === null) return null;
    return typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
  }

  /** What a summary shows of the body (see `toJSON()`). Subclasses override it. */
  protected bodySummary(): string | null {
    return bodySummary(this.#body);
  }

  /**
   * What `JSON.stringify()` writes, as in a log line's `{ response }`: the
   * status, the headers, the body cut to 200 characters (`[N bytes]` for
   * bytes), and the names of the cookies it sets (those given `setCookie()`
   * and its Set-Cookie headers, whose values are left out: a log line must
   * not carry a session token).
   */
  toJSON(): ResponseSummary {
    const pending = this[kCookies];
    const { headers, cookies } = headersSummary(this.headers.toJSON(), pending === undefined ? [] : Array.from(pending.values(), ({ name }) => name));
    const summary: ResponseSummary = { status: this.#status, headers, body: this.bodySummary() };
    if (cookies.length > 0) summary.cookies = cookies;
    return summary;
  }

  /** What `console.log()` and `util.inspect()` show: the summary `toJSON()` makes, under the class's name (undici's Response shows its status, headers and body likewise). */
  [inspect.custom](depth: number, options: StylizedInspectOptions, show: typeof inspect): string {
    if (depth < 0) return options.stylize(`[${this.constructor.name}]`, 'special');
    return `${this.constructor.name} ${show(this.toJSON(), { ...options, depth })}`;
  }

  /**
   * Sets a cookie, with safe defaults: `HttpOnly`, `SameSite=Lax`, `Path=/`,
   * and `Secure` when the request came over HTTPS (decided when the response
   * is sent, proxies included: see `trustProxy`). Setting the same name,
   * domain and path again replaces it. A name that is not a token, or options
   * browsers would reject (`sameSite: 'none'` without `secure: true`), are a
   * TypeError here; the value is percent-encoded where needed.
   * `signed: true` signs it with the app's `secret`.
   *
   * @example
   * ```ts
   * response.setCookie('theme', 'dark', { maxAge: 365 * 86_400 });
   * response.setCookie('session', user.id, { signed: true, maxAge: 14 * 86_400 });
   * ```
   */
  setCookie(name: string, value: string, options?: CookieOptions): this {
    const cookie = pendingCookie('response.setCookie()', name, value, options);
    HttpResponse.#addCookie(this, 'response.setCookie()', cookie);
    return this;
  }

  /**
   * Tells the browser to drop a cookie: an empty value that expired in 1970.
   * Give the `domain` and `path` it was set with.
   *
   * @example
   * ```ts
   * response.deleteCookie('session');
   * ```
   */
  deleteCookie(name: string, options?: DeleteCookieOptions): this {
    const cookie = expiredCookie('response.deleteCookie()', name, options);
    HttpResponse.#addCookie(this, 'response.deleteCookie()', cookie);
    return this;
  }

  /**
   * Its request's exchange sends `response` already (its cookies were written
   * to its head): a cookie set now, in a task, an afterResponse hook or its
   * own stream, would never reach the client, as Next.js refuses cookies in
   * after(). Static: an instance method would cost each response a brand field.
   */
  static #addCookie(response: HttpResponse, where: string, cookie: PendingCookie): void {
    refuseOnSent(response.headers, where, 'a cookie set now would never reach the client; set it before the response is returned');
    (response[kCookies] ??= new Map()).set(cookieKey(cookie), cookie);
  }

  /**
   * Runs `task` after this response has been sent (its last byte handed to the
   * operating system) or the client has gone away. See docs/after-response.md.
   */
  after(task: AfterTask, options?: AfterOptions): this;
  /**
   * Registers a durable task (see `task()`) for this response: journaled
   * before its first byte, run once it is done, retried, recovered after a crash.
   */
  after<Payload>(task: DurableTask<Payload>, payload: Payload, options?: TaskAfterOptions): this;
  after(task: AfterTask | DurableTask<unknown>, second?: unknown, third?: TaskAfterOptions): this {
    const exchange = currentRequest() as {
      readonly live: boolean; readonly abandoned: boolean; readonly payloadLimit: number; sent(): HttpResponse;
      give(response: HttpResponse, entry: AfterEntry): void; giveTask(response: HttpResponse, entry: TaskEntry): void;
    } | undefined;
    // In a task or an afterResponse hook, or a view still at work once a middleware answered: the request's tasks were taken already, this one would never run.
    if (exchange?.live === false) {
      // Before sent(), which an exchange given up may not have (no response, no outcome). (A refused request runs no app code.)
      if (exchange.abandoned) throw new Error('response.after(): the request was given up by shutdown (its deadline passed while it was handled): nothing registered now runs');
      if (exchange.sent() === this) throw new TypeError('response.after(): the response has been sent already and its tasks taken; call after() to run more work now');
      throw new TypeError('response.after(): this response was never sent: the request\'s response is done already (another answered it, a middleware before the view returned, say) and its tasks were taken; call after() to queue the work at once, or register it on the response you return');
    }
    if (exchange === undefined) {
      // Outside any request (a response built once and returned by many views): a task for every send of it.
      if (typeof task === 'function') (this[kAfterEntries] ??= []).push(afterEntry('response.after()', task, second as AfterOptions | undefined));
      else (this[kTaskEntries] ??= []).push(taskEntry('response.after()', task, second, third));
    } else if (typeof task === 'function') {
      // The request's, kept by its exchange (after/exchange.ts): a response shared by many requests runs it for this
      // one alone, and a middleware replacing the response does not drop it.
      exchange.give(this, afterEntry('response.after()', task, second as AfterOptions | undefined));
    } else {
      exchange.giveTask(this, taskEntry('response.after()', task, second, third, exchange.payloadLimit));
    }
    return this;
  }
}

/**
 * A response whose body is `value` as JSON.
 *
 * @example
 * ```ts
 * return new JsonResponse({ id: 7 }, { status: 201 });
 * ```
 */
export class JsonResponse extends HttpResponse {
  /** `value`: anything JSON can encode; `undefined` (which it cannot) does not type-check, a function fails at run time. */
  constructor(value: {} | null, init?: ResponseInit) {
    // JSON writes a promise as {}.
    if (forgottenAwait(value)) {
      throw new TypeError('JsonResponse got a promise, which JSON encodes as {}: await it first (new JsonResponse(await value))');
    }
    let body: string | undefined;
    try {
      body = JSON.stringify(value);
    } catch (error) {
      // JSON's own message ("Do not know how to serialize a BigInt") names neither the response nor what to do.
      throw new TypeError(`JsonResponse cannot encode ${describe(value)} as JSON: ${errorMessage(error)} (convert it first, e.g. a BigInt to a string, or give the object a toJSON())`, { cause: error });
    }
    if (body === undefined) throw new TypeError(`JsonResponse cannot encode ${describe(value)} as JSON`);
    super(body, init);
  }

  protected override defaultContentType(): string {
    return 'application/json; charset=utf-8';
  }
}

/**
 * A final status Node can send: an integer from 200 to 999, checked at
 * construction and when set. Node sends a 1xx as the interim head it is
 * (RFC 9110 15.2) and takes the response as done: the client waited on for
 * the final one, or read the next pipelined request's as this one's.
 */
export function checkStatus(status: number): number {
  if (!Number.isInteger(status) || status < 200 || status > 999) {
    const interim = status >= 100 && status < 200 ? ': a 1xx status is interim, never a final response (RFC 9110 15.2)' : '';
    throw new RangeError(`response status must be an integer from 200 to 999, got ${describe(status)}${interim}`);
  }
  return status;
}
