import type { TlsOptions } from 'node:tls';
import { checkBoolean, checkKeys, checkMs, checkRange, MAX_TIMER_MS } from '../util/options.js';
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
  /** The drain deadline for signal-triggered shutdown and for `close()` without a `timeoutMs`. Default 10,000 ms. */
  shutdownTimeoutMs?: number;
  /**
   * Time allowed to receive a request's headers (Node `headersTimeout`; 0: no
   * limit). Default 10,000 ms, or `requestTimeoutMs` if that is shorter; never
   * more than `requestTimeoutMs`.
   */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request (Node `requestTimeout`; over HTTP/2, a stream's request body); 0: no limit. Default 30,000 ms. */
  requestTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection stays open (Node
   * `keepAliveTimeout`), and an HTTP/2 session with no open stream; 0: no
   * limit. Default 5,000 ms. Responses advertise it as `Keep-Alive:
   * timeout=` in whole seconds, rounded down but at least 1 (Node keeps an
   * idle connection a second past this timeout, so a client reusing it
   * within that second is still served). At most 2^31 - 1 - 1,000 ms: that
   * second and the timeout are one Node timer.
   */
  keepAliveTimeoutMs?: number;
  /**
   * How long a client may take none of its response before its connection is
   * closed (nginx's `send_timeout`; over HTTP/2, its stream reset): the
   * exchange ends aborted and its tasks run. Only output waiting for the client counts, never a view
   * at work or a quiet stream; 0: no limit. Default 60,000 ms.
   */
  sendTimeoutMs?: number;
  /**
   * Serve HTTPS: node:tls options, with `key` and `cert` (PEM) or `pfx`;
   * the rest (`ca`, `passphrase`, `minVersion`, ...) as Node takes them.
   */
  tls?: TlsOptions;
  /**
   * Serve HTTP/2, with HTTP/1.1 for clients that do not offer it (ALPN);
   * needs `tls`, as browsers speak HTTP/2 over TLS only. Default false.
   */
  http2?: boolean;
}

/** Node keeps an idle connection this much past its keepAliveTimeout (its `keepAliveTimeoutBuffer`), on one timer: the sum must fit one. */
const KEEP_ALIVE_BUFFER_MS = 1_000;

/** The options with their defaults, checked. */
export type ServeSettings = Required<Omit<ServeOptions, 'tls'>> & { tls: TlsOptions | undefined };

const KEYS = ['port', 'host', 'handleSignals', 'shutdownTimeoutMs', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'sendTimeoutMs', 'tls', 'http2'];

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
  const tls = options.tls === undefined ? undefined : checkTls(options.tls);
  const http2 = checkBoolean('serve(): http2', options.http2 ?? false);
  if (http2 && tls === undefined) {
    throw new TypeError(
      'serve(): http2: true needs tls: { key, cert }. Browsers speak HTTP/2 over TLS only, and a cleartext HTTP/2 server (h2c) would shut out every HTTP/1.1 client',
    );
  }
  return {
    tls,
    http2,
    port: checkRange('serve(): port', options.port ?? 3000, 0, 65_535),
    host: checkHost(options.host ?? '127.0.0.1'),
    handleSignals: checkBoolean('serve(): handleSignals', options.handleSignals ?? true),
    shutdownTimeoutMs: checkMs('serve(): shutdownTimeoutMs', options.shutdownTimeoutMs ?? 10_000),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: checkMs('serve(): keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 5_000, { zero: true, max: MAX_TIMER_MS - KEEP_ALIVE_BUFFER_MS }),
    sendTimeoutMs: checkMs('serve(): sendTimeoutMs', options.sendTimeoutMs ?? 60_000, { zero: true }),
  };
}

/** 10 s, but never past a shorter request timeout (0 means none). */
function defaultHeadersTimeout(requestTimeoutMs: number): number {
  return requestTimeoutMs === 0 ? 10_000 : Math.min(10_000, requestTimeoutMs);
}

function checkHost(host: unknown): string {
  if (typeof host !== 'string' || host === '') throw new TypeError(`serve(): host must be a host name or address, got ${describe(host)}`);
  return host;
}

/** TLS options name a certificate and its key, as PEM (`key`, `cert`) or PKCS#12 (`pfx`); whether they are valid, Node says at `serve()`. */
function checkTls(tls: unknown): TlsOptions {
  if (tls === null || typeof tls !== 'object' || Array.isArray(tls)) throw new TypeError(`serve(): tls must be an object of node:tls options ({ key, cert }), got ${describe(tls)}`);
  const { key, cert, pfx } = tls as TlsOptions;
  if (pfx === undefined && (key === undefined || cert === undefined)) {
    const missing = key === undefined && cert === undefined ? 'key and cert' : key === undefined ? 'key' : 'cert';
    throw new TypeError(`serve(): tls needs a certificate and its private key: ${missing} missing (PEM strings or Buffers; or pfx)`);
  }
  return tls as TlsOptions;
}
