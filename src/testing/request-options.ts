import { METHODS } from 'node:http';
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
  if (json !== undefined) return { bytes: Buffer.from(jsonText(where, json)), type: 'application/json' };
  if (form instanceof FormData) {
    // The multipart encoding, boundary and all, as fetch would send it.
    const encoded = new Response(form);
    return { bytes: Buffer.from(await encoded.arrayBuffer()), type: encoded.headers.get('content-type')! };
  }
  if (form !== undefined) return { bytes: Buffer.from(new URLSearchParams(formFields(where, form)).toString()), type: 'application/x-www-form-urlencoded' };
  if (body === undefined) return undefined;
  // Buffer.from() would send an array's numbers as bytes, and name neither the option nor the request for an object.
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) throw new TypeError(`${where}: body must be a string or a Uint8Array (json sends a value as JSON), got ${describe(body)}`);
  return { bytes: Buffer.from(body), type: undefined };
}

/** `value` as JSON; one JSON has no text for (a function, a symbol) or cannot encode (a BigInt, a cycle) is refused naming the request. */
function jsonText(where: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new TypeError(`${where}: json cannot be encoded as JSON: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw new TypeError(`${where}: json must be a value JSON can encode, got ${describe(value)}`);
  return text;
}

/** A form record's fields: URLSearchParams would send `undefined` or an object as its String() ("undefined", "[object Object]"). */
function formFields(where: string, form: Record<string, string> | URLSearchParams): Record<string, string> | URLSearchParams {
  if (form instanceof URLSearchParams) return form;
  checkRecord(where, 'form', form);
  for (const [name, value] of Object.entries(form)) {
    if (typeof value !== 'string') throw new TypeError(`${where}: form field ${name} must be a string, got ${describe(value)}`);
  }
  return form;
}

/** A record option: a Headers, a Map or an array of pairs has no own entries to read, and would go as none. */
function checkRecord(where: string, option: string, value: unknown): void {
  const prototype = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) as unknown : undefined;
  if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`${where}: ${option} must be a plain object of strings (Object.fromEntries() makes one of a Headers or pairs), got ${describe(value)}`);
}

/** Node's client and fetch send Content-Length: 0 with a body-less request of a method that has one as a rule. */
const NO_BODY_EXPECTED = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/**
 * Frames the request's body in `headers` as Node's client frames one (the
 * same on both transports): its Content-Length, 0 for a body-less POST, PUT
 * or PATCH; the body to send, undefined for none. A Content-Length header
 * given that is not the body's would hang the request over a socket (the
 * server waits for bytes that never come, or reads the rest as the next
 * request): it is refused. A Transfer-Encoding given is left to frame it,
 * alone: Node's server refuses a request framed by both.
 */
export function frameBody(where: string, method: string, headers: Record<string, string>, bytes: Buffer | undefined): Buffer | undefined {
  const body = bytes ?? (NO_BODY_EXPECTED.has(method) ? undefined : Buffer.alloc(0));
  const given = headers['content-length'];
  if (headers['transfer-encoding'] !== undefined) {
    // Node's server refuses the pair (a 400: a request smuggler's framing); in-process the app got both.
    if (given !== undefined) throw new TypeError(`${where}: headers content-length and transfer-encoding frame the body both; give one (or neither: the client sends the body's length)`);
    return body;
  }
  const length = body === undefined ? undefined : String(body.length);
  if (given !== undefined && given !== (length ?? '0')) throw new TypeError(`${where}: header content-length is ${JSON.stringify(given)} but the body is ${length ?? 0} bytes; leave it out, the client sends the body's`);
  if (length !== undefined) headers['content-length'] = length;
  return body;
}

/**
 * The request target for `path`, as a client sends it: as given (dot
 * segments and escapes kept: a test of `..` sends `..`), with what no
 * request line may hold raw (spaces, controls, non-ASCII) percent-encoded as
 * UTF-8, without its fragment. A path must start with "/": the client sends
 * to its own app only.
 */
export function requestTarget(where: string, path: string): string {
  if (typeof path !== 'string') throw new TypeError(`${where}: the path must be a string, got ${describe(path)}`);
  if (!path.startsWith('/')) throw new TypeError(`${where}: the path must start with "/" (the client sends to its app only), got ${JSON.stringify(path)}`);
  // A fragment is the client's own: no client sends it (fetch, a browser), and no request line may hold it.
  const hash = path.indexOf('#');
  return (hash === -1 ? path : path.slice(0, hash)).replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(char));
}


/** The method as Node's client sends it (upper case: `get` is GET over a socket too); one that is not a token is refused. */
export function requestMethod(method: string): string {
  if (typeof method !== 'string' || !TOKEN.test(method)) throw new TypeError(`client.request(): the method must be an HTTP token (GET, POST, PROPFIND...), got ${JSON.stringify(method)}`);
  const upper = method.toUpperCase();
  // Node's server parses only the methods it knows: any other is its 400 over a socket, before the app; refused alike in-process.
  if (!METHODS.includes(upper)) throw new TypeError(`client.request(): Node's HTTP server takes no method ${upper} (it answers 400 before the app sees it); those it takes are node:http's METHODS`);
  // serve() answers it 501, but Node's client reads any answer to a CONNECT as a tunnel's, never as a response: it hung.
  if (upper === 'CONNECT') throw new TypeError('client.request(): CONNECT asks for a tunnel, which only a proxy gives: serve() answers it 501 before the app sees it, and no response reaches the client');
  return upper;
}

/**
 * `given`'s headers merged in order (a later name wins), names lower-cased,
 * values as their bytes arrive (Latin-1, wider characters as UTF-8 bytes;
 * without the spaces and tabs around them, which a server's parser drops:
 * the same on both transports); one no client could send is refused.
 */
export function requestHeaders(where: string, ...given: Record<string, string>[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const record of given) {
    checkRecord(where, 'headers', record);
    for (const [name, value] of Object.entries(record)) {
      if (!TOKEN.test(name)) throw new TypeError(`${where}: header name ${JSON.stringify(name)} is not a token`);
      if (typeof value !== 'string') throw new TypeError(`${where}: header ${name} must be a string, got ${describe(value)}`);
      if (CONTROL.test(value)) throw new TypeError(`${where}: header ${name} has a character no request may carry (CR, LF, NUL or another control): ${JSON.stringify(value)}`);
      headers[name.toLowerCase()] = withoutBlanksAround(value).replace(WIDE, (wide) => Buffer.from(wide).toString('latin1'));
    }
  }
  return headers;
}

/**
 * `value` without the blanks around it: not part of it (RFC 9110 5.5), so
 * Node's server drops them. By index: `/[ \t]+$/` is tried at each blank of a
 * run inside the value, quadratic in its length.
 */
function withoutBlanksAround(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}
