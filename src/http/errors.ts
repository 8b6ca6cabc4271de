import { STATUS_CODES } from 'node:http';
import { brand } from '../util/brand.js';
import { describe } from '../util/describe.js';
import { ResponseHeaders } from './headers.js';

/**
 * HTTP errors: throw one anywhere in the pipeline and the nearest converter
 * turns it into a response with its status (middleware.md, E1).
 *
 * @example
 * ```ts
 * if (!note) throw new NotFound(`no note ${request.params.id}`);
 * ```
 */
export class HttpError extends Error {
  readonly status: number;
  /** Extra headers for the error response, e.g. `Allow` on a 405. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Stable, for checks `instanceof` cannot make (two copies of coda-http, a
   * log line): each class has its own (`CODA_NOT_FOUND`), an HttpError of
   * another status this one. An own field, so that loggers print it. The
   * catalogue: docs/lifecycle.md, "Errors and their codes".
   */
  readonly code: string = 'CODA_HTTP_ERROR';

  constructor(status: number, message?: string, headers: Record<string, string> = NO_HEADERS) {
    super(message ?? defaultMessage(status));
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HttpError status must be an integer from 400 to 599, got ${describe(status)}`);
    }
    this.status = status;
    // Checked now, like any response header, and copied: a bad value found
    // later, while the error is being rendered, has no converter left to catch it.
    if (headers !== NO_HEADERS) new ResponseHeaders(headers);
    this.headers = headers === NO_HEADERS ? NO_HEADERS : Object.freeze({ ...headers });
  }

  override get name(): string {
    return this.constructor.name;
  }
}

// Told by its brand (see brand()): one thrown by code that imports its own copy of coda-http (a shared package, another
// version installed) is answered with its status, where told by its class alone it was a 500.
brand(HttpError, 'coda-http.HttpError');

/** Most errors carry no headers: they share this one frozen record, unchecked. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function defaultMessage(status: number): string {
  return reasonPhrase(status) ?? `HTTP ${status}`;
}

/** The status's reason phrase (`Too Many Requests`): Coda's own, else Node's (an app's `new HttpError(429)`). */
export function reasonPhrase(status: number): string | undefined {
  return STATUS_TEXT[status] ?? STATUS_CODES[status];
}

/** Reason phrases for the statuses Coda produces itself. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class BadRequest extends HttpError {
  override readonly code: string = 'CODA_BAD_REQUEST';
  constructor(message?: string) {
    super(400, message);
  }
}

export class Unauthorized extends HttpError {
  override readonly code: string = 'CODA_UNAUTHORIZED';
  constructor(message?: string, headers?: Record<string, string>) {
    super(401, message, headers);
  }
}

export class PermissionDenied extends HttpError {
  override readonly code: string = 'CODA_PERMISSION_DENIED';
  constructor(message?: string) {
    super(403, message);
  }
}

export class NotFound extends HttpError {
  override readonly code: string = 'CODA_NOT_FOUND';
  constructor(message?: string) {
    super(404, message);
  }
}

export class MethodNotAllowed extends HttpError {
  override readonly code: string = 'CODA_METHOD_NOT_ALLOWED';
  readonly allowed: readonly string[];
  constructor(allowed: readonly string[], message?: string) {
    // From plain JavaScript, `new MethodNotAllowed()` or a message first failed with "Cannot read properties of undefined (reading 'join')".
    if (!Array.isArray(allowed)) {
      throw new TypeError(`MethodNotAllowed takes the methods allowed first (a 405 must carry them in its Allow header), as in new MethodNotAllowed(['GET', 'HEAD'], message), got ${describe(allowed)}`);
    }
    super(405, message, { allow: allowed.join(', ') });
    this.allowed = allowed;
  }
}

/** A GET or HEAD whose If-Match or If-Unmodified-Since fails (RFC 9110 13.1.1, 13.1.4): staticFiles(), FileResponse, conditionalGet(). */
export class PreconditionFailed extends HttpError {
  override readonly code: string = 'CODA_PRECONDITION_FAILED';
  constructor(message?: string) {
    super(412, message);
  }
}

/**
 * A Range none of whose ranges a representation of `size` bytes satisfies
 * (RFC 9110 15.5.17): the 416 carries `Content-Range: bytes *\/size`, so that
 * the client learns the length.
 */
export class RangeNotSatisfiable extends HttpError {
  override readonly code: string = 'CODA_RANGE_NOT_SATISFIABLE';
  constructor(size: number, message?: string) {
    if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`RangeNotSatisfiable takes the representation's size in bytes first, got ${describe(size)}`);
    super(416, message, { 'content-range': `bytes */${size}` });
  }
}

export class PayloadTooLarge extends HttpError {
  override readonly code: string = 'CODA_PAYLOAD_TOO_LARGE';
  constructor(message?: string, headers?: Record<string, string>) {
    super(413, message, headers);
  }
}

export class UnsupportedMediaType extends HttpError {
  override readonly code: string = 'CODA_UNSUPPORTED_MEDIA_TYPE';
  constructor(message?: string, headers?: Record<string, string>) {
    super(415, message, headers);
  }
}

export class ServiceUnavailable extends HttpError {
  override readonly code: string = 'CODA_SERVICE_UNAVAILABLE';
  constructor(message?: string, retryAfterSeconds = 1) {
    super(503, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/**
 * `after()` was called while the after-response queue holds `maxPending`
 * tasks (under `overflow: 'reject'`). In a view it becomes a 503 with
 * `Retry-After`; in a task it fails that task, which is reported.
 */
export class AfterQueueFull extends ServiceUnavailable {
  override readonly code: string = 'CODA_AFTER_QUEUE_FULL';
  constructor(maxPending: number) {
    super(`the after-response queue is full (${maxPending} tasks pending); the task was not accepted`);
  }
}

/**
 * The client closed the connection before its request body was complete.
 * Nobody receives this response; it ends the request cleanly.
 */
export class ClientDisconnected extends HttpError {
  override readonly code: string = 'CODA_CLIENT_DISCONNECTED';
  constructor(message = 'the client disconnected before its request body was complete') {
    super(499, message);
  }
}

/**
 * Thrown by a middleware factory at build time to leave itself out of the
 * chain (Django's `MiddlewareNotUsed`).
 */
export class MiddlewareNotUsed extends Error {
  readonly code: string = 'CODA_MIDDLEWARE_NOT_USED';

  override get name(): string {
    return 'MiddlewareNotUsed';
  }
}

/**
 * A mistake in application code that Coda detects at run time, such as a view
 * that returns something other than a response. Always a 500.
 */
export class ProgrammingError extends Error {
  readonly code: string = 'CODA_PROGRAMMING_ERROR';

  override get name(): string {
    return 'ProgrammingError';
  }
}
