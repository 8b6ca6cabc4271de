import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import { randomUUID } from 'node:crypto';
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { Http2ServerRequest } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { childOf, logsAt, type Logger } from '../log/logger.js';
import { kBodyRead, kClientLeft, kDone, kExchange, kHostField, kLogs, kPeer, kRenderedError, kRouteTarget, kSigned, kSpan } from '../symbols.js';
import { ClientDisconnected, ProgrammingError } from './errors.js';
import { RequestHeaders } from './headers.js';
import { decodeText, isJsonType, mediaType, readBody, refuseEncoded, requireType } from './body.js';
import { DEFAULT_BODY_SETTINGS, type BodySettings } from './body-options.js';
import { parseMultipart } from './form-body.js';
import { parseUrlEncoded } from './urlencoded-body.js';
import { parseJson } from './json-body.js';
import { RequestCookies, type SignedCookies } from './cookies.js';
import type { Signer } from './signing.js';
import { ABSOLUTE_FORM, resolveClient, type ClientAddress, type Trust } from './client-address.js';
import { entriesObject, validate, type StandardSchemaV1 } from './validation.js';

/**
 * A request as Coda takes it from anything but node:http: an HTTP/2 stream,
 * a Web `Request` (`app.fetch()`), the in-process test client.
 */
export interface RequestSource {
  method: string;
  url: string;
  /** As node:http gives them: names in lower case, no HTTP/2 pseudo-headers. */
  headers: IncomingHttpHeaders;
  /** The body stream; null when the request has none. */
  body: Readable | null;
  /** The Node request it came from, when it came over a socket (HTTP/2). */
  raw?: Http2ServerRequest;
  /** The client's address, if known (the socket's peer for a real connection). */
  remoteAddress?: string;
  /** The connection was TLS. Default false. */
  encrypted?: boolean;
}

/**
 * What middleware leaves on `request.state` for views. Declare what your
 * middleware sets, once, and every view reads it typed:
 *
 * @example
 * ```ts
 * declare module 'coda-http' {
 *   interface RequestState { user: User }
 * }
 * // in a view: request.state.user.name, no cast
 * ```
 */
export interface RequestState {
  [key: string]: unknown;
}

/** What the app gives each request. */
export interface RequestOptions {
  bodyLimit: number;
  /** The body limit of the route a method and path reach, if it has one: for a body read before routing (by middleware). */
  routeBodyLimit?: (method: string, path: string) => number | undefined;
  logger: Logger;
  /** How bodies are parsed, built once per app; the defaults when absent. */
  body?: BodySettings;
  /** Signs and verifies cookies with the app's `secret`; absent when none is configured. */
  signer?: Signer;
  /** Which proxies are believed about the client (the app's `trustProxy`); absent: none. */
  trust?: Trust;
  /** The header the incoming request id is read from (the app's `requestIdHeader`, lower case); absent: `x-request-id`. */
  requestIdHeader?: string;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
const SANE_REQUEST_ID = /^[\w.:+=/-]{1,200}$/;

const PERCENT_ENCODED = /%[0-9A-Fa-f]{2}/g;
// A percent-encoded unreserved character: A-Z a-z 0-9 - . _ ~ (RFC 3986 2.3).
const ENCODED_UNRESERVED = /^%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E)$/i;

/** RFC 3986 6.2.2.1-2: an unreserved character decoded, any other escape in upper case. */
function normaliseEscape(code: string): string {
  return ENCODED_UNRESERVED.test(code) ? String.fromCharCode(parseInt(code.slice(1), 16)) : code.toUpperCase();
}

/**
 * The path of a request target, normalised so that middleware comparing it
 * sees what the router matches (the router decodes before matching):
 * - the absolute form (`GET http://host/admin HTTP/1.1`, which HTTP/1.1
 *   servers must accept) loses its scheme and authority;
 * - encoded unreserved characters are decoded (RFC 3986 6.2.2.2), so
 *   `/%61dmin` is `/admin`. Everything else, `%2F` included, stays encoded,
 *   with its hex digits in upper case (`%c3%a9` is `%C3%A9`);
 * - a fragment (`#...`, which clients should not send) is cut off, as the
 *   router cuts it off.
 */
function targetPath(url: string): string {
  let path = url.slice(0, pathEnd(url));
  if (path.charCodeAt(0) !== 0x2f /* '/' */) {
    const absolute = ABSOLUTE_FORM.exec(path);
    if (absolute !== null) path = path.slice(absolute[0].length) || '/';
  }
  if (path.includes('%')) path = path.replace(PERCENT_ENCODED, normaliseEscape);
  return path;
}

/**
 * Where the path of a request target ends: at `?`, at `#`, or at its end.
 * One scan that stops at the first of them (two `indexOf` calls cost more
 * for the short paths most requests have).
 */
function pathEnd(url: string): number {
  for (let i = 0; i < url.length; i++) {
    const code = url.charCodeAt(i);
    if (code === 0x3f /* '?' */ || code === 0x23 /* '#' */) return i;
  }
  return url.length;
}

export type Peer = { readonly address: string | undefined; readonly encrypted: boolean };

/** @internal The socket's peer, read once per connection (Node's getters cost a native call's worth each time): its requests share it. */
export function peerOf(socket: Socket & { [kPeer]?: Peer }): Peer {
  return (socket[kPeer] ??= { address: socket.remoteAddress, encrypted: (socket as TLSSocket).encrypted === true });
}

/** Node's request when the body is one (a request over a socket: its body is its own stream), else undefined. */
function rawOf(body: Readable | null): IncomingMessage | Http2ServerRequest | undefined {
  return body instanceof IncomingMessage || body instanceof Http2ServerRequest ? body : undefined;
}

/**
 * An HTTP request as views and middleware see it. Everything that costs
 * something (query, headers wrapper, request id, logger, body) is computed on
 * first use.
 *
 * @example
 * ```ts
 * const note = await request.json();
 * request.log.info({ id: request.params.id }, 'updating note');
 * ```
 */
export class HttpRequest<Params extends Record<string, string> = Record<string, string>> {
  readonly method: string;
  /** The request target as sent: path and query string. */
  readonly url: string;
  /**
   * The path part of the URL, still percent-encoded but normalised: without
   * scheme and host when the target was absolute, with encoded letters,
   * digits and `-._~` decoded (`/%61dmin` is `/admin`) and other escapes in
   * upper case (`%c3%a9` is `%C3%A9`).
   */
  readonly path: string;
  /** Route parameters, decoded. Set by routing. */
  params: Params = NO_PARAMS as Params;
  /**
   * The pattern of the route that matched (`'/users/:id'`), set by routing;
   * `undefined` before routing or when no route matched. Low-cardinality, so
   * fit for metric labels and span names.
   */
  route: string | undefined = undefined;
  /** When the request entered Coda, on the `performance.now()` clock. */
  readonly startedAt: number;
  /** @internal The exchange that owns this request (its life: middleware entered, tasks, outcome). */
  readonly [kExchange]: unknown;
  /** @internal The route matched (routing sets it): its body limit, when it has one, overrides the app's; its name. */
  [kRouteTarget]: { readonly bodyLimit: number | undefined; readonly name?: string | undefined } | undefined = undefined;
  /** @internal Its server span, when tracing records one (a field, not a WeakMap entry: nothing for the collector to track). */
  [kSpan]: unknown = undefined;
  /** @internal Set by logError only (declared, not initialized: a request that fails nothing pays nothing for it). */
  declare [kRenderedError]?: unknown;

  readonly #headersRecord: IncomingHttpHeaders;
  /** The body stream: Node's request itself when the request came over a socket (see `raw`). */
  #body: Readable | null;
  /** The app's: its logger, body parsing, signer and trusted proxies (one reference: a pending task keeps every request it saw). */
  readonly #options: RequestOptions;
  /**
   * The connection's address and whether it is TLS, read as the request
   * comes (or given by a request without a socket); two fields rather than
   * a Peer object each request.
   */
  #address: string | undefined = undefined;
  #encrypted = false;
  #client: ClientAddress | undefined;
  #cookies: RequestCookies | undefined;
  /** Set once the response is done: how, for a body read too late. */
  #done: 'completed' | 'aborted' | undefined;
  #headers: RequestHeaders | undefined;
  #query: URLSearchParams | undefined;
  #id: string | undefined;
  #log: Logger | undefined;
  #bytes: Promise<Buffer> | undefined;
  #state: RequestState | undefined;
  /** Made when `signal` is first read: its controller, and how it stops watching the connection. */
  #abort: { controller: AbortController; stop: () => void } | undefined;

  constructor(source: IncomingMessage | RequestSource, options: RequestOptions, exchange?: unknown, startedAt = performance.now()) {
    if (source instanceof IncomingMessage) {
      this.#body = source;
      // Read now, not when first asked: once the client has gone its socket no longer tells (the access line of a client
      // that left, a task's snapshot, had no address). Node's getter runs once per connection (peerOf keeps it).
      // One made by hand (a test's `new IncomingMessage(null)`) has no socket: no address.
      if (source.socket != null) {
        const peer = peerOf(source.socket);
        this.#address = peer.address;
        this.#encrypted = peer.encrypted;
      }
    } else {
      // A source with `raw` (HTTP/2) has it as its body; it says its peer itself, as other sources do.
      this.#body = source.body;
      this.#address = source.remoteAddress;
      this.#encrypted = source.encrypted ?? false;
    }
    this.#headersRecord = source.headers;
    this.method = source.method!;
    this.url = source.url!;
    this.path = targetPath(this.url);
    this[kExchange] = exchange;
    this.#options = options;
    this.startedAt = startedAt;
  }

  /**
   * A place for middleware to leave things for views (the signed-in user,
   * ...), typed by the `RequestState` interface: extend it with declaration
   * merging.
   */
  get state(): RequestState {
    // Empty until middleware fills it: what RequestState declares is the app's promise.
    return (this.#state ??= {} as RequestState);
  }

  /**
   * The request's cookies, parsed on first use; read-only. Malformed pairs
   * are skipped, never an error.
   *
   * @example
   * ```ts
   * const theme = request.cookies.get('theme') ?? 'light';
   * ```
   */
  get cookies(): RequestCookies {
    return (this.#cookies ??= new RequestCookies(this.headers.get('cookie') ?? undefined));
  }

  /**
   * The request's cookies signed with the app's `secret` (see
   * `response.setCookie(name, value, { signed: true })`): a value whose
   * signature is missing or wrong reads as absent.
   *
   * @example
   * ```ts
   * const userId = request.signedCookies.get('session');
   * ```
   */
  get signedCookies(): SignedCookies {
    return this.cookies[kSigned](this.#options.signer);
  }

  /**
   * The client's IP address: the socket's peer, or, behind proxies the app's
   * `trustProxy` trusts, the address they forwarded (`X-Forwarded-For` or
   * `Forwarded`). Undefined only when the transport knows no address.
   */
  get ip(): string | undefined {
    return HttpRequest.#clientAddress(this).ip;
  }

  /**
   * The forwarded addresses believed, client first, nearest proxy last (the
   * socket's peer not included); empty without trusted proxies.
   */
  get ips(): string[] {
    return HttpRequest.#clientAddress(this).ips;
  }

  /** `'https'` when the connection is TLS or a trusted proxy says the client used HTTPS, else `'http'`. */
  get protocol(): 'http' | 'https' {
    return HttpRequest.#clientAddress(this).protocol;
  }

  /**
   * The host the client asked for, with its port if given, lower-case: the
   * `Host` header (`:authority` in HTTP/2), the authority of an absolute-form
   * target, or what a trusted proxy forwarded. Undefined when absent or not a
   * DNS name or address (`foo_bar.com`); a Host that is no host at all
   * (`a b`, `a@b`) never reaches the app: it is a 400.
   */
  get host(): string | undefined {
    return HttpRequest.#clientAddress(this).host;
  }

  // Static, as every private method here: an instance method would cost each request a brand field.
  static #clientAddress(request: HttpRequest): ClientAddress {
    if (request.#client === undefined) {
      request.#client = resolveClient({ address: request.#address, encrypted: request.#encrypted }, request.#headersRecord, request.#options.trust, request.url);
    }
    return request.#client;
  }

  /** @internal */
  get [kHostField](): string | undefined {
    return this.#headersRecord.host;
  }

  get headers(): RequestHeaders {
    return (this.#headers ??= new RequestHeaders(this.#headersRecord));
  }

  /**
   * The query string's parameters, as URLSearchParams. For typed values, see
   * `parseQuery(schema)`.
   */
  get query(): URLSearchParams {
    if (this.#query === undefined) {
      const start = pathEnd(this.url);
      const hash = this.url.indexOf('#', start);
      this.#query = new URLSearchParams(this.url[start] !== '?' ? '' : this.url.slice(start + 1, hash === -1 ? undefined : hash));
    }
    return this.#query;
  }

  /**
   * The query parameters validated by a Standard Schema (zod, valibot,
   * arktype, ...): a parameter given once is a string, given twice or more an
   * array of strings. Its output, typed; a 400 listing the issues if it fails.
   *
   * @example
   * ```ts
   * const { page } = await request.parseQuery(z.object({ page: z.coerce.number().int().min(1) }));
   * ```
   */
  parseQuery<Schema extends StandardSchemaV1>(schema: Schema): Promise<StandardSchemaV1.InferOutput<Schema>> {
    return validate(schema, entriesObject(this.query), 'query string');
  }

  /** The route parameters validated by a Standard Schema: its output, typed; a 400 listing the issues if it fails. */
  parseParams<Schema extends StandardSchemaV1>(schema: Schema): Promise<StandardSchemaV1.InferOutput<Schema>> {
    return validate(schema, { ...this.params }, 'path parameters');
  }

  /** The client's `X-Request-Id` (the header the app's `requestIdHeader` names, if it does) when it is a sane token, else a new UUID. */
  get id(): string {
    if (this.#id === undefined) {
      const given = this.#headersRecord[this.#options.requestIdHeader ?? 'x-request-id'];
      this.#id = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    }
    return this.#id;
  }

  /**
   * Aborted when the client goes away before its response is complete (the
   * reason a DOMException named AbortError), as Fastify's `onRequestAbort`
   * tells: hand it to `fetch()` or a query, and work whose answer nobody
   * will receive stops. Never aborted once the response is complete.
   *
   * @example
   * ```ts
   * get('/report', async (request) => new JsonResponse(await buildReport({ signal: request.signal })));
   * ```
   */
  get signal(): AbortSignal {
    return (this.#abort ??= HttpRequest.#watchClient(this)).controller.signal;
  }

  /**
   * Nothing watches the connection while the view works (a listener per
   * request costs every request): the first read of `signal` does, until the
   * response is done. Static, as the other private methods here.
   */
  static #watchClient(request: HttpRequest): { controller: AbortController; stop: () => void } {
    const controller = new AbortController();
    const raw = rawOf(request.#body);
    if (request.#done === 'aborted') controller.abort(clientGone());
    if (request.#done !== undefined || raw === undefined) return { controller, stop: () => {} };
    const connection = raw instanceof Http2ServerRequest ? raw.stream : raw.socket;
    // A connection that closes with its response complete ('Connection: close') is not a client that left:
    // the response's own 'close', which says which, comes first or within the turn.
    const onClose = (): void => void setImmediate(() => {
      if (request.#done !== 'completed') controller.abort(clientGone());
    });
    if (connection.destroyed) onClose();
    else connection.once('close', onClose);
    return { controller, stop: () => connection.off('close', onClose) };
  }

  /** The app's logger, bound to this request's id. */
  get log(): Logger {
    return (this.#log ??= childOf(this.#options.logger, { requestId: this.id }));
  }

  /** @internal Whether the app's logger writes `level`: skip building a line nobody reads. */
  [kLogs](level: 'error' | 'warn' | 'info' | 'debug'): boolean {
    return logsAt(this.#options.logger, level);
  }

  /**
   * Node's request (`IncomingMessage`, or `Http2ServerRequest` over HTTP/2),
   * when the request came over a socket, until the response is done: pending
   * after-response tasks do not keep it alive.
   */
  get raw(): IncomingMessage | Http2ServerRequest | undefined {
    return rawOf(this.#body);
  }

  /**
   * The body as bytes, as sent: a body with a `Content-Encoding` (gzip, ...)
   * is not decoded, here or anywhere (`text()`, `json()` and `form()` refuse
   * it with a 415). May be called more than once; the body is read once.
   * Each call gives a copy of its own, which the caller may write into
   * (decrypt in place, wipe a secret) without changing what any other
   * reader gets.
   * An after-response task can read it only if the view (or a middleware) did:
   * once the response is done, Node discards a body nobody read.
   */
  async bytes(): Promise<Buffer> {
    return Buffer.from(await HttpRequest.#read(this));
  }

  /** The body, read once and kept: text(), json() and form() only read it, so they share it uncopied. */
  static #read(request: HttpRequest): Promise<Buffer> {
    if (request.#bytes === undefined && request.#done !== undefined) {
      if (request.#done === 'aborted') return Promise.reject(new ClientDisconnected('the client disconnected before the response, and the request body was never read'));
      return Promise.reject(new ProgrammingError(
        'the request body was first read after the response was done, when Node has discarded it: read it in the view (or a middleware), and after-response tasks can read it again',
      ));
    }
    // Bytes another reader took are gone: what is left would read as a short, or empty, body (Django's RawPostDataException).
    if (request.#bytes === undefined && request.#body?.readableDidRead === true) {
      return Promise.reject(new ProgrammingError(
        'the request body was read from request.raw before text(), json(), form() or bytes(), which cannot read it again: read it one way only',
      ));
    }
    return (request.#bytes ??= readBody(request.#body, request.headers, HttpRequest.#bodyLimit(request)));
  }

  /** The route's body limit, else the app's; the route's also when a middleware reads the body before routing has found it. */
  static #bodyLimit(request: HttpRequest): number {
    const target = request[kRouteTarget];
    const routeLimit = target === undefined ? request.#options.routeBodyLimit?.(request.method, request.path) : target.bodyLimit;
    return routeLimit ?? request.#options.bodyLimit;
  }

  /**
   * The body as text, decoded with the charset of its Content-Type (UTF-8 by
   * default): 400 when its bytes are not valid in that charset, 415 when it
   * was sent with a `Content-Encoding`.
   */
  async text(): Promise<string> {
    return decodeText(await HttpRequest.#unencodedBytes(this, 'text()'), this.headers.get('content-type'));
  }

  /** The body's bytes for a reader that decodes them: a 415 when they were sent with a content coding. */
  static #unencodedBytes(request: HttpRequest, reader: string): Promise<Buffer> {
    refuseEncoded(request.headers, reader);
    return HttpRequest.#read(request);
  }

  /**
   * The body parsed as JSON: 415 unless the Content-Type is JSON, or when the
   * body has a `Content-Encoding`; 400 if it is malformed, not valid in its
   * charset, nested deeper than the app's `body.maxJsonDepth`, or holds a
   * `__proto__` or `constructor.prototype` key (see `body.onProtoPoisoning`).
   *
   * Given a Standard Schema (zod, valibot, arktype, ...), the body is
   * validated: its output, typed, or a 400 listing each issue's path and
   * message.
   *
   * @example
   * ```ts
   * const note = await request.json(z.object({ text: z.string().min(1) })); // { text: string }
   * ```
   */
  json<T = unknown>(): Promise<T>;
  json<Schema extends StandardSchemaV1>(schema: Schema): Promise<StandardSchemaV1.InferOutput<Schema>>;
  async json(schema?: StandardSchemaV1): Promise<unknown> {
    const contentType = this.headers.get('content-type');
    const type = mediaType(contentType);
    if (!isJsonType(type)) requireType(type, contentType, 'application/json', 'json()');
    const value = parseJson(decodeText(await HttpRequest.#unencodedBytes(this, 'json()'), contentType), this.#options.body ?? DEFAULT_BODY_SETTINGS);
    return schema === undefined ? value : validate(schema, value, 'request body');
  }

  /**
   * The body of a form, urlencoded or multipart, as a `FormData`; 415 for any
   * other type or a body with a `Content-Encoding`, 413 past the app's
   * `body.maxFields` or `body.maxFiles`, 400 for a multipart part without a
   * name. A urlencoded body is read in UTF-8
   * (400 for escapes that are not valid UTF-8, naming the field) or, when its
   * charset says so, ISO-8859-1; another charset is a 415.
   *
   * Given a Standard Schema, the fields are validated as an object (a field
   * given once is a string or a File, twice or more an array): its output,
   * typed, or a 400 listing the issues.
   */
  form(): Promise<FormData>;
  form<Schema extends StandardSchemaV1>(schema: Schema): Promise<StandardSchemaV1.InferOutput<Schema>>;
  async form(schema?: StandardSchemaV1): Promise<unknown> {
    const contentType = this.headers.get('content-type');
    const type = mediaType(contentType);
    const parsing = this.#options.body ?? DEFAULT_BODY_SETTINGS;
    let form: FormData;
    if (type === 'application/x-www-form-urlencoded') form = parseUrlEncoded(await HttpRequest.#unencodedBytes(this, 'form()'), contentType, parsing);
    else if (type === 'multipart/form-data') form = await parseMultipart(await HttpRequest.#unencodedBytes(this, 'form()'), this.headers, parsing);
    else return requireType(type, contentType, 'application/x-www-form-urlencoded or multipart/form-data', 'form()');
    return schema === undefined ? form : validate(schema, entriesObject(form), 'form');
  }

  /**
   * @internal The client went away before the response (a Web Request's
   * signal aborted: no connection tells it here): `signal` aborts, now or
   * when it is first read.
   */
  [kClientLeft](): void {
    (this.#abort ??= { controller: new AbortController(), stop: () => {} }).controller.abort(clientGone());
  }

  /** @internal Its body was read into memory (by the view, a middleware, or a task since). */
  get [kBodyRead](): boolean {
    return this.#bytes !== undefined;
  }

  /** @internal The response is done: let go of Node's request (a pending task keeps only what it needs). */
  [kDone](aborted: boolean): void {
    this.#done = aborted ? 'aborted' : 'completed';
    if (aborted) this.#abort?.controller.abort(clientGone());
    this.#abort?.stop();
    this.#body = null;
  }
}

const clientGone = (): DOMException => new DOMException('the client closed the connection before its response was complete', 'AbortError');
