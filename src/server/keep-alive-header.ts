import { ServerResponse } from 'node:http';

const kAdvertised = Symbol('coda.advertisedKeepAlive');

/**
 * node:http's response, whose `Keep-Alive: timeout=` header says at least one
 * second for a positive keep-alive timeout. Node writes the timeout rounded
 * down to whole seconds, so under a second it advertised `timeout=0`, which
 * tells clients (undici, browsers) not to reuse the connection at all. One
 * second is still within what the server keeps: Node closes an idle
 * connection a second after its keep-alive timeout (its
 * `keepAliveTimeoutBuffer`), so a client reusing it within the advertised
 * time never meets a closed connection. Node reads `_keepAliveTimeout` only
 * for that header, and sets it on each response from the server's timeout.
 */
// As node:http types it: its own Request type parameter, which a subclass cannot keep.
export const KeepAliveResponse = class KeepAliveResponse extends ServerResponse {} as typeof ServerResponse;

type Advertising = ServerResponse & { [kAdvertised]: number };

Object.defineProperty(KeepAliveResponse.prototype, '_keepAliveTimeout', {
  get(this: Advertising): number {
    return this[kAdvertised];
  },
  set(this: Advertising, ms: number) {
    this[kAdvertised] = ms > 0 ? Math.max(1_000, ms) : ms;
  },
});
