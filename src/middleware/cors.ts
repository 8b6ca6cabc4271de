import { TOKEN } from '../http/headers.js';
import type { HttpRequest } from '../http/request.js';
import { copyResponse } from '../http/response-copy.js';
import { HttpResponse } from '../http/response.js';
import { StreamingResponse } from '../http/streaming-response.js';
import { addVary } from '../http/vary.js';
import type { MaybePromise, MiddlewareHooks } from '../pipeline/types.js';
import { describe } from '../util/describe.js';
import { isPromise } from '../util/is-promise.js';
import { checkAmount, checkBoolean, checkKeys } from '../util/options.js';

/** Which origins may read responses: a list, `'*'` (any, without credentials), or a function of the `Origin` header (asked only when it is one origin, or `null`). */
export type CorsOrigins = '*' | readonly string[] | ((origin: string, request: HttpRequest) => MaybePromise<boolean>);

/** `cors()`'s options. */
export interface CorsOptions {
  /** Default `'*'`. List entries are origins as browsers send them: `'https://app.example'`, `'http://localhost:5173'`. */
  origins?: CorsOrigins;
  /** Let the browser send cookies and read the response (`Access-Control-Allow-Credentials`). Refused with `'*'`. */
  credentials?: boolean;
  /** Methods allowed in a preflight. Default GET, HEAD, PUT, PATCH, POST, DELETE. */
  methods?: readonly string[];
  /** Request headers allowed in a preflight. Default: those the browser asks for. */
  headers?: readonly string[];
  /** Response headers the page may read beyond the safelisted ones. */
  exposeHeaders?: readonly string[];
  /** Seconds a browser may cache a preflight's answer. */
  maxAge?: number;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];

/**
 * Cross-origin resource sharing as a middleware (put it first, so that error
 * responses carry its headers too). A preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) is answered here with 204; other requests
 * from an allowed origin get `Access-Control-Allow-Origin` and friends on
 * their response (with `'*'`, every response). Responses that depend on the
 * origin say `Vary: Origin`.
 * `'*'` with `credentials: true` is refused when the app is configured.
 *
 * @example
 * ```ts
 * createApp({ middleware: [cors({ origins: ['https://app.example'], credentials: true, maxAge: 600 })], routes });
 * ```
 */
export function cors(options: CorsOptions = {}): MiddlewareHooks {
  return new Cors(options);
}

class Cors implements MiddlewareHooks {
  readonly name = 'cors';
  /** Undefined with `'*'`: every response is anyone's to read. */
  readonly #allows: ((origin: string, request: HttpRequest) => MaybePromise<boolean>) | undefined;
  readonly #credentials: boolean;
  readonly #methods: string;
  readonly #headers: string | undefined;
  readonly #expose: string | undefined;
  readonly #maxAge: string | undefined;

  constructor(options: CorsOptions) {
    checkKeys('cors()', options, ['origins', 'credentials', 'methods', 'headers', 'exposeHeaders', 'maxAge']);
    const { origins = '*', credentials = false, maxAge } = options;
    this.#credentials = checkBoolean('cors(): credentials', credentials);
    if (origins === '*') {
      if (credentials) {
        throw new TypeError("cors(): origins '*' with credentials: true is refused: browsers reject it, and answering every origin with credentials would let any site read your users' data; list the origins, or pass a function that checks them");
      }
      this.#allows = undefined;
    } else if (typeof origins === 'function') {
      this.#allows = origins;
    } else if (Array.isArray(origins)) {
      const allowed = new Set(origins.map(checkOrigin));
      this.#allows = (origin) => allowed.has(origin.toLowerCase());
    } else {
      throw new TypeError(`cors(): origins must be a list of origins, '*' or a function, got ${describe(origins)}`);
    }
    this.#methods = tokens('methods', options.methods ?? DEFAULT_METHODS)!.toUpperCase();
    this.#headers = tokens('headers', options.headers);
    this.#expose = tokens('exposeHeaders', options.exposeHeaders);
    this.#maxAge = maxAge === undefined ? undefined : String(checkAmount('cors(): maxAge', maxAge, 'seconds'));
  }

  processRequest(request: HttpRequest): MaybePromise<HttpResponse | undefined> {
    if (!isPreflight(request)) return undefined;
    const response = new HttpResponse(null, { status: 204 });
    const allowed = this.#allow(request, response);
    if (allowed === false) return response;
    if (allowed === true) return this.#preflight(request, response);
    return allowed.then((yes) => (yes ? this.#preflight(request, response) : response));
  }

  processResponse(request: HttpRequest, response: HttpResponse): MaybePromise<HttpResponse> {
    // A preflight was answered above (Django runs the same middleware's processResponse on it).
    if (isPreflight(request)) return response;
    const allowed = this.#allow(request, response);
    if (allowed === false) return response;
    if (allowed === true) return this.#actual(request, response);
    return allowed.then((yes) => (yes ? this.#actual(request, response) : response));
  }

  /**
   * Whether the request's origin may read the response; says `Vary: Origin`
   * when the answer depends on it. Writes only what every request gets alike
   * (`'*'`, the Vary): the response may be shared by many requests.
   */
  #allow(request: HttpRequest, response: HttpResponse): MaybePromise<boolean> {
    if (this.#allows === undefined) {
      // Whether or not it has an Origin: a cache that kept a same-origin answer without it would give it to other origins too.
      response.headers.set('access-control-allow-origin', '*');
      return true;
    }
    addVary(response, 'Origin');
    const origin = request.headers.get('origin');
    // Node joins two Origin lines as "a, b": sent back in Allow-Origin, such a value is no origin (a function's suffix test took it).
    if (origin === null || !isOrigin(origin)) return false;
    const allowed = this.#allows(origin, request);
    // Any thenable, as the pipeline accepts; wrapped so the callers chain on a native promise.
    if (isPromise(allowed)) return Promise.resolve(allowed).then((yes) => yes === true);
    return allowed === true;
  }

  /**
   * The response an allowed origin gets. The origin it names is this
   * request's: written on a copy (a stream is never shared), since written
   * on a response shared by many requests (a module-level constant) it was
   * sent to the next ones, other origins and same-origin requests included.
   */
  #actual(request: HttpRequest, response: HttpResponse): HttpResponse {
    let answer = response;
    if (this.#allows !== undefined) {
      if (!(response instanceof StreamingResponse)) answer = copyResponse(response, response.body);
      answer.headers.set('access-control-allow-origin', request.headers.get('origin')!);
    }
    if (this.#credentials) answer.headers.set('access-control-allow-credentials', 'true');
    if (this.#expose !== undefined) answer.headers.set('access-control-expose-headers', this.#expose);
    return answer;
  }

  #preflight(request: HttpRequest, response: HttpResponse): HttpResponse {
    const { headers } = response;
    if (this.#allows !== undefined) headers.set('access-control-allow-origin', request.headers.get('origin')!);
    if (this.#credentials) headers.set('access-control-allow-credentials', 'true');
    headers.set('access-control-allow-methods', this.#methods);
    if (this.#headers !== undefined) {
      headers.set('access-control-allow-headers', this.#headers);
    } else {
      const asked = request.headers.get('access-control-request-headers');
      if (asked !== null && asked.split(',').every((name) => TOKEN.test(name.trim()))) headers.set('access-control-allow-headers', asked);
      addVary(response, 'Access-Control-Request-Headers');
    }
    if (this.#maxAge !== undefined) headers.set('access-control-max-age', this.#maxAge);
    return response;
  }
}

function isPreflight(request: HttpRequest): boolean {
  return request.method === 'OPTIONS' && request.headers.has('access-control-request-method');
}

/** Whether an Origin header is one origin: `null` (an opaque origin), or `scheme://host[:port]` as a URL serializes it. */
function isOrigin(origin: string): boolean {
  if (origin === 'null') return true;
  try {
    return new URL(origin).origin === origin.toLowerCase();
  } catch {
    return false;
  }
}

/** An origin as a browser sends it, lower-case; a TypeError naming it otherwise (a path or trailing slash never matches). */
function checkOrigin(origin: unknown, index: number): string {
  // 'null' is what a sandboxed page or a file sends: listing it would let any such page read the responses.
  if (typeof origin !== 'string' || origin === 'null' || !isOrigin(origin)) {
    throw new TypeError(`cors(): origins[${index}] is not an origin (scheme://host[:port], no path, no trailing slash): ${describe(origin)}`);
  }
  return origin.toLowerCase();
}

/** A list of header or method names as one header value; undefined when absent. */
function tokens(option: string, list: readonly string[] | undefined): string | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || !list.every((name) => typeof name === 'string' && TOKEN.test(name))) {
    throw new TypeError(`cors(): ${option} must be a list of names (tokens), got ${describe(list)}`);
  }
  return list.join(', ');
}
