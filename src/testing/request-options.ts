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

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The method as Node's client sends it (upper case: `get` is GET over a socket too); one that is not a token is refused. */
export function requestMethod(method: string): string {
  if (typeof method !== 'string' || !TOKEN.test(method)) throw new TypeError(`client.request(): the method must be an HTTP token (GET, POST, PROPFIND...), got ${JSON.stringify(method)}`);
  return method.toUpperCase();
}
