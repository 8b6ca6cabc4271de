import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';

/**
 * The open HTTP/2 sessions of the servers watched, for a graceful close:
 * `close()` sends each a GOAWAY (the streams it names are still answered; the
 * session closes once they are, at once when idle), and any that opens from
 * then on (its TLS handshake under way as the server began to close) too.
 * Node 24 does it in an HTTP/2 server's `close()`; Node 22 does not, and
 * waits for the clients to close their sessions.
 */
export class Http2Sessions {
  readonly #open = new Set<ServerHttp2Session>();
  #closing = false;

  /** Watches the sessions `server` opens from now on; `opened` gets each that opens before `close()`. */
  watch(server: EventEmitter, opened?: (session: ServerHttp2Session) => void): void {
    server.on('session', (session: ServerHttp2Session) => {
      this.add(session);
      if (!this.#closing) opened?.(session);
    });
  }

  /** A session opened before its server was watched. */
  add(session: ServerHttp2Session): void {
    if (!this.#open.has(session) && !session.destroyed) {
      this.#open.add(session);
      session.once('close', () => this.#open.delete(session));
    }
    if (this.#closing) session.close();
  }

  /** GOAWAY to every session, now and from now on. */
  close(): void {
    this.#closing = true;
    for (const session of this.#open) session.close();
  }

  destroy(): void {
    for (const session of this.#open) session.destroy();
  }
}
