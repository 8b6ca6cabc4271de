import { checkKeys, checkMs } from '../util/options.js';
import { describe } from '../util/describe.js';

export interface ServeOptions {
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. Use '0.0.0.0' or '::' to listen on every interface. */
  host?: string;
  /**
   * Handle SIGTERM and SIGINT: close every server that handles them, then run
   * the `onShutdown` hooks, then exit. Default true.
   */
  handleSignals?: boolean;
  /** The drain deadline for signal-triggered shutdown. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
  /**
   * Time allowed to receive a request's headers (Node `headersTimeout`; 0: no
   * limit). Default 10,000 ms, or `requestTimeoutMs` if that is shorter; never
   * more than `requestTimeoutMs`.
   */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request (Node `requestTimeout`; 0: no limit). Default 30,000 ms. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open (Node `keepAliveTimeout`; 0: no limit). Default 5,000 ms. */
  keepAliveTimeoutMs?: number;
}

/** The options with their defaults, checked. */
export type ServeSettings = Required<ServeOptions>;

const KEYS = ['port', 'host', 'handleSignals', 'shutdownTimeoutMs', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs'];

/** Checks `serve()`'s options: unknown keys, types and ranges, and the two request timeouts against each other. */
export function serveSettings(options: ServeOptions): ServeSettings {
  checkKeys('serve()', options, KEYS);
  const requestTimeoutMs = checkMs('serve(): requestTimeoutMs', options.requestTimeoutMs ?? 30_000, { zero: true });
  const headersTimeoutMs = checkMs('serve(): headersTimeoutMs', options.headersTimeoutMs ?? defaultHeadersTimeout(requestTimeoutMs), { zero: true });
  // Node leaves the pair as set: a headers timeout past the request timeout is one of them not meaning what it says.
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    const which = options.requestTimeoutMs === undefined ? ', the default' : '';
    throw new RangeError(`serve(): headersTimeoutMs (${headersTimeoutMs}) must not be more than requestTimeoutMs (${requestTimeoutMs}${which})`);
  }
  return {
    port: checkPort(options.port ?? 3000),
    host: checkHost(options.host ?? '127.0.0.1'),
    handleSignals: checkBoolean('handleSignals', options.handleSignals ?? true),
    shutdownTimeoutMs: checkMs('serve(): shutdownTimeoutMs', options.shutdownTimeoutMs ?? 10_000),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: checkMs('serve(): keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 5_000, { zero: true }),
  };
}

/** 10 s, but never past a shorter request timeout (0 means none). */
function defaultHeadersTimeout(requestTimeoutMs: number): number {
  return requestTimeoutMs === 0 ? 10_000 : Math.min(10_000, requestTimeoutMs);
}

function checkPort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`serve(): port must be a whole number from 0 to 65535, got ${describe(port)}`);
  }
  return port;
}

function checkHost(host: unknown): string {
  if (typeof host !== 'string' || host === '') throw new TypeError(`serve(): host must be a host name or address, got ${describe(host)}`);
  return host;
}

function checkBoolean(what: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`serve(): ${what} must be true or false, got ${describe(value)}`);
  return value;
}
