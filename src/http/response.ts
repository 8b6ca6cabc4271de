import { Readable } from 'node:stream';
import { ResponseHeaders, type HeadersInit } from './headers.js';
import type { AfterEntry, AfterOptions, AfterTask } from '../after/types.js';

export interface ResponseInit {
  status?: number;
  headers?: HeadersInit;
}

export type ResponseBody = string | Uint8Array | null;

/**
 * A response: a status, headers and a body (a string, bytes or nothing).
 * Strings are sent as UTF-8 `text/plain` unless a content type is given.
 *
 * @example
 * ```ts
 * const response = new HttpResponse('created', { status: 201 });
 * response.after(({ outcome }) => audit.record(outcome.status));
 * ```
 */
export class HttpResponse {
  status: number;
  readonly headers: ResponseHeaders;
  body: ResponseBody;
  /** @internal Tasks registered with `after()`, in order. Allocated on first use. */
  afterEntries: AfterEntry[] | undefined = undefined;

  constructor(body: ResponseBody = null, init?: ResponseInit) {
    this.status = checkStatus(init?.status ?? 200);
    this.headers = new ResponseHeaders(init?.headers);
    this.body = body;
    const type = this.defaultContentType(body);
    if (type !== null && (init?.headers === undefined || !this.headers.has('content-type'))) this.headers.setTrusted('content-type', type);
  }

  /** The content type set when none is given. Subclasses override it. */
  protected defaultContentType(body: ResponseBody): string | null {
    if (body === null) return null;
    return typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
  }

  /**
   * Runs `task` after this response has been sent (its last byte handed to the
   * operating system) or the client has gone away. See docs/after-response.md.
   */
  after(task: AfterTask, options?: AfterOptions): this {
    if (typeof task !== 'function') throw new TypeError(`response.after() takes a function, got ${describe(task)}`);
    (this.afterEntries ??= []).push({ task, options });
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
  constructor(value: unknown, init?: ResponseInit) {
    const body = JSON.stringify(value);
    if (body === undefined) throw new TypeError(`JsonResponse cannot encode ${describe(value)} as JSON`);
    super(body, init);
  }

  protected override defaultContentType(): string {
    return 'application/json; charset=utf-8';
  }
}

export type StreamSource = AsyncIterable<Uint8Array | string> | Readable;

/**
 * A response whose body is produced while it is sent, with backpressure: the
 * source is read only as fast as the client takes it. After-response tasks run
 * once the stream has ended (or the client has gone).
 *
 * @example
 * ```ts
 * async function* lines() { for (const n of notes) yield JSON.stringify(n) + '\n'; }
 * return new StreamingResponse(lines(), { headers: { 'content-type': 'application/x-ndjson' } });
 * ```
 */
export class StreamingResponse extends HttpResponse {
  readonly stream: StreamSource;

  constructor(source: StreamSource, init?: ResponseInit) {
    super(null, init);
    if (source === null || typeof source !== 'object' || !(Symbol.asyncIterator in source)) {
      throw new TypeError(`StreamingResponse takes an async iterable or a Readable, got ${describe(source)}`);
    }
    this.stream = source;
  }

  protected override defaultContentType(): string {
    return 'application/octet-stream';
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * A redirect to `location`.
 *
 * @example
 * ```ts
 * return redirect(app.reverse('note', { id }), 303);
 * ```
 */
export function redirect(location: string, status = 302): HttpResponse {
  if (!REDIRECT_STATUSES.has(status)) {
    throw new RangeError(`redirect status must be one of 301, 302, 303, 307, 308, got ${status}`);
  }
  return new HttpResponse(null, { status, headers: { location } });
}

/** Turns a Web-standard `Response` (accepted from views) into an `HttpResponse`. */
export function fromWebResponse(web: Response): HttpResponse {
  const headers = new ResponseHeaders();
  web.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.append(name, value);
  });
  for (const cookie of web.headers.getSetCookie()) headers.append('set-cookie', cookie);
  if (web.body === null) return new HttpResponse(null, { status: web.status, headers });
  return new StreamingResponse(Readable.fromWeb(web.body as import('node:stream/web').ReadableStream), { status: web.status, headers });
}

function checkStatus(status: number): number {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new RangeError(`response status must be an integer from 100 to 999, got ${status}`);
  }
  return status;
}

/** A short description of a value for error messages: `undefined`, `a string`, `an object (Foo)`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `an instance of ${name}` : 'a plain object';
  }
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}
