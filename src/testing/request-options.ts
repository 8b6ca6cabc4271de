import { TOKEN } from '../http/headers.js';
import { describe } from '../util/describe.js';

/** What no request may carry in a header value: controls but tab (a CR or LF would split the head). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Beyond Latin-1: a header's bytes are Latin-1, so these go as their UTF-8 bytes, as a browser sends document.cookie. */
const WIDE = /[^\x00-\xff]+/gu;

/** A test request's options: its headers, and one body at most. */
export interface TestRequestOptions {
  headers?: Record<string, string>;
  /** A raw body. */
  body?: string | Uint8Array;
  /** A value sent as JSON, with `Content-Type: application/json`. */
  json?: unknown;
  /**
   * A form: a record or `URLSearchParams` is sent urlencoded, a `FormData`
   * as `multipart/form-data` (files included), each with its content type.
   */
  form?: Record<string, string> | URLSearchParams | FormData;
  /**
   * How long the complete response may take, in milliseconds (default
   * 10,000): then the request is rejected, naming it, instead of hanging the
   * test (over a socket it is aborted; in-process the view runs on).
   */
  timeoutMs?: number;
}

const BODIES = ['body', 'json', 'form'] as const;

/** A test request's body and the content type it goes with (none for a raw body); undefined without one. `where` names the request in errors. */
export async function requestBody(where: string, options: TestRequestOptions): Promise<{ bytes: Buffer; type: string | undefined } | undefined> {
  const given = BODIES.filter((key) => options[key] !== undefined);
  if (given.length > 1) throw new TypeError(`${where}: give one body (body, json or form), got ${given.join(' and ')}`);
  const { body, json, form } = options;
  if (json !== undefined) return { bytes: Buffer.from(JSON.stringify(json)), type: 'application/json' };
  if (form instanceof FormData) {
    // The multipart encoding, boundary and all, as fetch would send it.
    const encoded = new Response(form);
    return { bytes: Buffer.from(await encoded.arrayBuffer()), type: encoded.headers.get('content-type')! };
  }
  if (form !== undefined) return { bytes: Buffer.from(new URLSearchParams(form).toString()), type: 'application/x-www-form-urlencoded' };
  return body === undefined ? undefined : { bytes: Buffer.from(body), type: undefined };
}

/**
 * The request target for `path`, as a client sends it: as given (dot
 * segments and escapes kept: a test of `..` sends `..`), with what no
 * request line may hold raw (spaces, controls, non-ASCII) percent-encoded as
 * UTF-8. A path must start with "/": the client sends to its own app only.
 */
export function requestTarget(where: string, path: string): string {
  if (!path.startsWith('/')) throw new TypeError(`${where}: the path must start with "/" (the client sends to its app only), got ${JSON.stringify(path)}`);
  return path.replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(char));
}


/** The method as Node's client sends it (upper case: `get` is GET over a socket too); one that is not a token is refused. */
export function requestMethod(method: string): string {
  if (typeof method !== 'string' || !TOKEN.test(method)) throw new TypeError(`client.request(): the method must be an HTTP token (GET, POST, PROPFIND...), got ${JSON.stringify(method)}`);
  return method.toUpperCase();
}

/**
 * `given`'s headers merged in order (a later name wins), names lower-cased,
 * values as their bytes arrive (Latin-1, wider characters as UTF-8 bytes:
 * the same on both transports); one no client could send is refused.
 */
export function requestHeaders(where: string, ...given: Record<string, string>[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const record of given) {
    for (const [name, value] of Object.entries(record)) {
      if (!TOKEN.test(name)) throw new TypeError(`${where}: header name ${JSON.stringify(name)} is not a token`);
      if (typeof value !== 'string') throw new TypeError(`${where}: header ${name} must be a string, got ${describe(value)}`);
      if (CONTROL.test(value)) throw new TypeError(`${where}: header ${name} has a character no request may carry (CR, LF, NUL or another control): ${JSON.stringify(value)}`);
      headers[name.toLowerCase()] = value.replace(WIDE, (wide) => Buffer.from(wide).toString('latin1'));
    }
  }
  return headers;
}
