import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import parseForwarded from 'forwarded-parse';
import proxyAddr from 'proxy-addr';
import { describe } from '../util/describe.js';

/**
 * Which proxies in front of the app are believed about the client (the app's
 * `trustProxy` option): none (`false`, the default), all (`true`), the
 * nearest `n` hops, the addresses and CIDR ranges of a list (`'loopback'`,
 * `'linklocal'`, `'uniquelocal'` name the usual ones), or a function.
 */
export type TrustProxy = boolean | number | string | readonly string[] | ((address: string, hop: number) => boolean);

/** Whether the proxy at `address`, `hop` hops from the app (0: the socket's peer), is trusted. */
export type Trust = (address: string, hop: number) => boolean;

/** Who and what a request came from, as `request.ip`, `ips`, `protocol` and `host` say. */
export interface ClientAddress {
  ip: string | undefined;
  ips: string[];
  protocol: 'http' | 'https';
  host: string | undefined;
}

/** What the transport knows of the connection. */
export interface Peer {
  /** The socket's remote address; undefined when there is none (the socket is gone, or no socket). */
  address: string | undefined;
  /** The connection is TLS. */
  encrypted: boolean;
}

const ALL: Trust = () => true;

/** The app's `trustProxy` as a function; undefined when nothing is trusted (forwarded headers are then never read). */
export function compileTrust(value: TrustProxy | undefined): Trust | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return ALL;
  if (typeof value === 'function') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`createApp(): trustProxy as a number is how many proxy hops to trust, a whole number 0 or more, got ${value}`);
    return value === 0 ? undefined : (_address, hop) => hop < value;
  }
  const list = typeof value === 'string' ? value.split(',').map((entry) => entry.trim()) : value;
  if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`createApp(): trustProxy must be true, false, a number of hops, a list of addresses and CIDR ranges, or a function, got ${describe(value)}`);
  }
  try {
    return proxyAddr.compile(list);
  } catch (error) {
    throw new TypeError(`createApp(): trustProxy: ${(error as Error).message}`);
  }
}

/**
 * Resolves the client's address, protocol and host. Without trust, or when
 * the peer is not trusted, forwarded headers are ignored: the peer is the
 * client. Else the forwarded addresses are walked from the nearest proxy
 * back while each hop is trusted; an entry that is not an IP address (garbage,
 * `unknown`, an obfuscated identifier) ends the walk. `X-Forwarded-*` is read
 * when the request has any of them, RFC 7239 `Forwarded` otherwise; a
 * malformed `Forwarded` is ignored whole, and an element of it that repeats
 * a parameter is read as garbage. The host the client asked for is
 * the authority of an absolute-form `target` (`GET http://a.example/ HTTP/1.1`,
 * which RFC 9112 3.2.2 makes win over Host), else the Host header.
 */
export function resolveClient(peer: Peer, headers: IncomingHttpHeaders, trust: Trust | undefined, target = ''): ClientAddress {
  const authority = ABSOLUTE_FORM.exec(target);
  const socketHost = validHost(authority === null ? first(headers.host ?? headers[':authority']) : authority[1]);
  const socketProtocol = peer.encrypted ? 'https' : 'http';
  if (peer.address === undefined) return { ip: undefined, ips: [], protocol: socketProtocol, host: socketHost };
  if (trust === undefined || !trust(peer.address, 0)) return { ip: peer.address, ips: [], protocol: socketProtocol, host: socketHost };
  const chain = [peer.address];

  const hops = forwardedHops(headers);
  let taken = 0;
  while (taken < hops.for.length) {
    const next = address(hops.for[hops.for.length - 1 - taken]);
    if (next === undefined) break;
    chain.push(next);
    taken++;
    // The client-most entry is taken as it is: only a hop that forwards is asked about.
    if (taken === hops.for.length || !trust(next, taken)) break;
  }
  const at = (list: readonly (string | undefined)[]): string | undefined => {
    // Proxies that append write one entry per hop: take the client-most trusted one; a proxy that overwrites writes one: take the last.
    const index = list.length === hops.for.length && taken > 0 ? list.length - taken : list.length - 1;
    return list[index];
  };
  const proto = at(hops.proto)?.toLowerCase();
  return {
    ip: chain[chain.length - 1],
    ips: chain.slice(1).reverse(),
    protocol: proto === 'https' || proto === 'http' ? proto : socketProtocol,
    host: validHost(at(hops.host)) ?? socketHost,
  };
}

interface Hops {
  for: readonly (string | undefined)[];
  proto: readonly (string | undefined)[];
  host: readonly (string | undefined)[];
}

const NO_HOPS: Hops = { for: [], proto: [], host: [] };

function forwardedHops(headers: IncomingHttpHeaders): Hops {
  const xFor = headers['x-forwarded-for'];
  const xProto = headers['x-forwarded-proto'];
  const xHost = headers['x-forwarded-host'];
  if (xFor !== undefined || xProto !== undefined || xHost !== undefined) {
    return { for: list(xFor), proto: list(xProto), host: list(xHost) };
  }
  const forwarded = headers.forwarded;
  if (forwarded === undefined) return NO_HOPS;
  let elements: Partial<Record<string, string>>[];
  try {
    elements = parseForwarded(forwarded);
  } catch {
    return NO_HOPS;
  }
  // forwarded-parse keeps the last of a repeated parameter: such an element says nothing, as garbage (its `for` ends the walk).
  const repeats = repeatedParameters(forwarded);
  elements = elements.map((element, index) => (repeats[index] ? {} : element));
  return { for: elements.map((e) => e.for), proto: elements.map((e) => e.proto), host: elements.map((e) => e.host) };
}

// A parameter of a Forwarded value forwarded-parse accepted: its name, its value (token or quoted string) skipped, and the separator after it.
const PARAMETER = /([^\s=;,]+)=(?:"(?:[^"\\]|\\.)*"|[^;,]*)\s*([;,]?)/g;

/** For each element of a Forwarded value forwarded-parse accepted, whether it names a parameter twice: RFC 7239 4 forbids it. */
function repeatedParameters(value: string): boolean[] {
  const repeats: boolean[] = [];
  let names = new Set<string>();
  let repeated = false;
  for (const [, name, separator] of value.matchAll(PARAMETER)) {
    const lower = name!.toLowerCase();
    repeated ||= names.has(lower);
    names.add(lower);
    if (separator === ';') continue;
    repeats.push(repeated);
    names = new Set();
    repeated = false;
  }
  return repeats;
}

/** The comma-separated entries of a header (repeated headers joined), trimmed; empty ones skipped, as proxy-addr does. */
function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const V4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const V6_BRACKETED = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/;

/** The IP address in a forwarded entry (a port, brackets around IPv6, dropped); undefined when it is none. */
function address(entry: string | undefined): string | undefined {
  if (entry === undefined) return undefined;
  if (isIP(entry) !== 0) return entry;
  const bare = V4_WITH_PORT.exec(entry)?.[1] ?? V6_BRACKETED.exec(entry)?.[1];
  return bare !== undefined && isIP(bare) !== 0 ? bare : undefined;
}

/** An absolute-form request target's scheme and authority (captured): the request's path follows it, its host is it. */
export const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

// A host name or IPv4 address, or a bracketed IPv6 address, and an optional port, which may be empty (RFC 3986 3.2.3). The port is captured.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::(\d{0,5}))?$/;
/** The last TCP port: a Host or forwarded host with a port past it names no host. */
export const LAST_PORT = 65_535;

/**
 * A host that is a host, lower-cased, an empty port dropped (`example.com:`
 * is `example.com`, as Django reads it); undefined for anything else (a
 * path, spaces, a user name, a port past 65535: a Host line with one is a 400).
 */
function validHost(value: string | undefined): string | undefined {
  const match = value === undefined ? null : HOST.exec(value);
  if (match === null || Number(match[1] ?? 0) > LAST_PORT) return undefined;
  return (match[1] === '' ? match[0].slice(0, -1) : match[0]).toLowerCase();
}
