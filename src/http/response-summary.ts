import { describe } from '../util/describe.js';

/** What a response shows of itself to `console.log()`, `util.inspect()` and `JSON.stringify()`: never the whole of a large body. */
export interface ResponseSummary {
  status: number;
  headers: Record<string, string | string[]>;
  /** The text cut to 200 characters, `[N bytes]` for bytes, `[stream …]` for a stream; null for no body. */
  body: string | null;
  /** Cookies set with `setCookie()`/`deleteCookie()`, by name: they become Set-Cookie headers when the response is sent. */
  cookies?: string[];
}

/** As much of a body's text as a log line or a console shows: 200 characters, then how long it is. */
const SHOWN = 200;

/**
 * A fixed body as a summary shows it; any other value (a middleware may set
 * `body` to anything, refused only when it is sent) as what it is.
 */
export function bodySummary(body: unknown): string | null {
  if (body === null) return null;
  if (body instanceof Uint8Array) return `[${body.byteLength} bytes]`;
  if (typeof body !== 'string') return `[not a body: ${describe(body)}]`;
  return body.length > SHOWN ? `${body.slice(0, SHOWN)}… (${body.length} characters)` : body;
}

/**
 * The headers as a summary shows them: Set-Cookie values (session tokens,
 * signed values) are left out, their cookies named in `cookies` instead, as
 * those set with `setCookie()` are: a summary is for logs.
 */
export function headersSummary(headers: Record<string, string | string[]>, cookies: Iterable<string>): { headers: Record<string, string | string[]>; cookies: string[] } {
  const names = new Set(cookies);
  const setCookie = headers['set-cookie'];
  if (setCookie !== undefined) {
    for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie) {
      const end = line.indexOf('=');
      names.add((end === -1 ? line : line.slice(0, end)).trim());
    }
    // A record toJSON() made for this summary: its own to change.
    delete headers['set-cookie'];
  }
  return { headers, cookies: [...names] };
}
