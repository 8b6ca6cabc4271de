import { TextDecoder } from 'node:util';
import { charsetOf } from '../http/body.js';

/** A response, complete: its body has been read. */
export class TestResponse {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly body: Buffer,
    /**
     * In-process only: the error the app turned into its error response (what
     * a view or middleware threw, a routing 404), the last if several; the app
     * logs it too, but its default log is silent under `node --test`.
     * `assert.ifError(res.error)` throws it, stack and all. Undefined over a socket.
     */
    readonly error?: unknown,
  ) {}

  /** The body's bytes, as fetch's `Response.bytes()` gives them: a copy, a plain Uint8Array (`body` is the same bytes as a Buffer). */
  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(this.body);
  }

  /** The body's bytes in an ArrayBuffer of their own, as fetch's `Response.arrayBuffer()` gives them. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.bytes()).buffer;
  }

  /** The body as text, in the charset its Content-Type names (as a browser reads it), UTF-8 when it names none or one no decoder knows. */
  async text(): Promise<string> {
    const charset = charsetOf(this.headers.get('content-type'));
    if (charset !== undefined) {
      try {
        return new TextDecoder(charset).decode(this.body);
      } catch {
        // A charset no decoder knows: read as UTF-8, as a browser falls back.
      }
    }
    return this.body.toString('utf8');
  }

  /** The body parsed as JSON (its text, as `text()` reads it); a body that is not JSON (a 500's text) is a SyntaxError saying what it is. */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      const start = text.length > 200 ? `${text.slice(0, 200)}…` : text;
      throw new SyntaxError(`the response body is not JSON (status ${this.status}, content-type ${this.headers.get('content-type') ?? 'none'}): ${JSON.stringify(start)}`, { cause });
    }
  }
}
