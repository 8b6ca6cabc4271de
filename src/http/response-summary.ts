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

/** A fixed body as a summary shows it. */
export function bodySummary(body: string | Uint8Array | null): string | null {
  if (body === null) return null;
  if (typeof body !== 'string') return `[${body.byteLength} bytes]`;
  return body.length > SHOWN ? `${body.slice(0, SHOWN)}… (${body.length} characters)` : body;
}
