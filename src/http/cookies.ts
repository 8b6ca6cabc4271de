import { parseCookie, stringifySetCookie, type SetCookie } from 'cookie';
import { kSigned } from '../symbols.js';
import { describe } from '../util/describe.js';
import { checkBoolean, checkKeys } from '../util/options.js';
import { ProgrammingError } from './errors.js';
import { TOKEN } from './headers.js';
import { signatureLength, type Signer } from './signing.js';

/**
 * The cookies a request carries, parsed from its `Cookie` header(s) on first
 * use. Read-only. A pair without `=` is skipped; a value whose
 * percent-encoding is broken is kept as sent; when a name comes twice, the
 * first wins (browsers send the most specific path first). Raw non-ASCII
 * bytes (a value set by `document.cookie = 'name=José'`) are read as UTF-8,
 * as Django reads them; bytes that are not UTF-8 are kept as Latin-1.
 *
 * @example
 * ```ts
 * const theme = request.cookies.get('theme') ?? 'light';
 * ```
 */
export class RequestCookies implements Iterable<[string, string]> {
  readonly #map = new Map<string, string>();
  /** The signed view of these cookies, made on first use (kept here: a request has no field for it). */
  #signed: SignedCookies | undefined;

  constructor(header: string | undefined) {
    if (header === undefined) return;
    const parsed = parseCookie(NON_ASCII.test(header) ? asUtf8(header) : header);
    for (const name in parsed) {
      const value = parsed[name];
      if (value !== undefined) this.#map.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.#map.get(name);
  }
  has(name: string): boolean {
    return this.#map.has(name);
  }
  /** @internal These cookies as signed with `signer` (`request.signedCookies`), one view per request. */
  [kSigned](signer: Signer | undefined): SignedCookies {
    return (this.#signed ??= new SignedCookies(this, signer));
  }

  get size(): number {
    return this.#map.size;
  }
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }
  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
}

/** A header's bytes above 0x7f (node:http and fetch give header bytes as Latin-1 characters). */
const NON_ASCII = /[\x80-\xff]/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The header's Latin-1 characters read as the UTF-8 bytes a browser sent; as it is when they are not UTF-8 (or not bytes at all). */
function asUtf8(header: string): string {
  if (/[^\x00-\xff]/.test(header)) return header;
  try {
    return utf8.decode(Buffer.from(header, 'latin1'));
  } catch {
    return header;
  }
}

/** How a signed cookie is read. */
export interface SignedCookieOptions {
  /** The purpose the cookie was signed for, as given to `setCookie`: a value signed for another salt reads as absent. */
  salt?: string;
  /** Seconds: a value signed longer ago than this reads as absent, whatever the browser kept. */
  maxAge?: number;
}

/**
 * The request's signed cookies: a value reads as absent unless its signature
 * is good (made with the app's `secret`, for this cookie's name and salt).
 * A forged, tampered, expired or unsigned value never throws: it is absent.
 *
 * @example
 * ```ts
 * const userId = request.signedCookies.get('session', { maxAge: 14 * 86_400 });
 * if (userId === undefined) throw new Unauthorized();
 * ```
 */
export class SignedCookies {
  readonly #cookies: RequestCookies;
  readonly #signer: Signer | undefined;

  constructor(cookies: RequestCookies, signer: Signer | undefined) {
    this.#cookies = cookies;
    this.#signer = signer;
  }

  get(name: string, options?: SignedCookieOptions): string | undefined {
    const where = `request.signedCookies.get(${JSON.stringify(name)})`;
    if (this.#signer === undefined) throw noSecret(where);
    if (options !== undefined) {
      checkKeys('request.signedCookies.get()', options, ['salt', 'maxAge']);
      // Either mistake read every value as absent (NaN from an unset setting: no age passes it), every session lost without a word.
      const { maxAge, salt } = options;
      if (maxAge !== undefined && !(typeof maxAge === 'number' && maxAge >= 0)) throw new TypeError(`${where}: maxAge must be a number of seconds, 0 or more, got ${describe(maxAge)}`);
      if (salt !== undefined && typeof salt !== 'string') throw new TypeError(`${where}: salt must be a string, got ${describe(salt)}`);
    }
    const signed = this.#cookies.get(name);
    if (signed === undefined) return undefined;
    return this.#signer.verify(signed, saltFor(name, options?.salt), options?.maxAge);
  }
}

/** Options of `response.setCookie()`. The defaults are the safe ones. */
export interface CookieOptions {
  /** Seconds until the browser drops the cookie; absent: when the browser session ends. */
  maxAge?: number;
  /** When the browser drops the cookie (prefer `maxAge`). */
  expires?: Date;
  /** Default: the host that set it, subdomains excluded. */
  domain?: string;
  /** Default `'/'`; must start with `/` (browsers ignore any other path). */
  path?: string;
  /** Default: true when the request came over HTTPS (as `request.protocol` says, proxies included). */
  secure?: boolean;
  /** Default true: page scripts cannot read the cookie. */
  httpOnly?: boolean;
  /** Default `'lax'`. `'none'` needs `secure: true`. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** CHIPS: a cookie kept apart per top-level site; needs `secure: true`. */
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
  /** Sign the value with the app's `secret`; read it with `request.signedCookies.get()`. */
  signed?: boolean;
  /** The purpose a signed value is for (with the cookie's name): read it back with the same salt. */
  salt?: string;
}

/** Options of `response.deleteCookie()`: the domain and path must be the ones it was set with. */
export type DeleteCookieOptions = Pick<CookieOptions, 'domain' | 'path' | 'secure' | 'httpOnly' | 'sameSite' | 'partitioned'>;

/** A cookie set on a response, written to its headers when it is sent (see `writeCookies`). */
export interface PendingCookie {
  readonly name: string;
  readonly value: string;
  readonly options: CookieOptions;
}

const OPTION_KEYS = ['maxAge', 'expires', 'domain', 'path', 'secure', 'httpOnly', 'sameSite', 'partitioned', 'priority', 'signed', 'salt'];
const DELETE_KEYS = ['domain', 'path', 'secure', 'httpOnly', 'sameSite', 'partitioned'];
// RFC 6265 4.1.1: a cookie name is an RFC 7230 token.
const SAME_SITE = ['lax', 'strict', 'none'];
const PRIORITY = ['low', 'medium', 'high'];
const EPOCH = new Date(0);
/** RFC 6265bis 5.7: a browser ignores, without a word, a cookie whose name and value come to more bytes. */
const MAX_COOKIE_BYTES = 4096;
/** RFC 6265bis 5.6: a browser ignores an attribute whose value comes to more bytes (the cookie is kept, without it). */
const MAX_ATTRIBUTE_BYTES = 1024;

/**
 * Checks a cookie where it is set, so that a mistake fails in the code that
 * made it: a name that is not a token (`;`, `=`, spaces, CR/LF would inject
 * attributes or headers), a value that is not a string, an unknown or
 * ill-typed option, a combination browsers reject, a name and value past
 * the 4096 bytes browsers keep, a domain or path past the 1024 bytes of an
 * attribute they read, a path not starting with `/`, a value with a lone
 * surrogate (no UTF-8 to encode). The value itself is
 * percent-encoded where needed, so no value can inject an attribute.
 */
export function pendingCookie(where: string, name: string, value: string, options: CookieOptions | undefined, keys = OPTION_KEYS): PendingCookie {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new TypeError(`${where}: invalid cookie name ${describe(name)}: a name is letters, digits and !#$%&'*+-.^_\`|~ only (no spaces, ';', '=', quotes or control characters)`);
  }
  if (typeof value !== 'string') throw new TypeError(`${where}: the value of cookie ${name} must be a string, got ${describe(value)}`);
  const checked = options ?? {};
  checkKeys(`${where} for cookie ${name}`, checked, keys);
  const { maxAge, expires, secure, sameSite, partitioned, priority, salt } = checked;
  const fail = (problem: string): never => {
    throw new TypeError(`${where}: cookie ${name}: ${problem}`);
  };
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge < 0)) fail(`maxAge must be a whole number of seconds, 0 or more, got ${describe(maxAge)} (to delete a cookie, use deleteCookie())`);
  if (expires !== undefined && !(expires instanceof Date && !Number.isNaN(expires.getTime()))) fail(`expires must be a valid Date, got ${describe(expires)}`);
  for (const flag of ['secure', 'httpOnly', 'partitioned', 'signed'] as const) {
    if (checked[flag] !== undefined) checkBoolean(`${where}: cookie ${name}: ${flag}`, checked[flag]);
  }
  if (sameSite !== undefined && !SAME_SITE.includes(sameSite)) fail(`sameSite must be 'lax', 'strict' or 'none', got ${describe(sameSite)}`);
  if (priority !== undefined && !PRIORITY.includes(priority)) fail(`priority must be 'low', 'medium' or 'high', got ${describe(priority)}`);
  if (salt !== undefined && typeof salt !== 'string') fail(`salt must be a string, got ${describe(salt)}`);
  if (sameSite === 'none' && secure !== true) fail("sameSite: 'none' needs secure: true (browsers reject a SameSite=None cookie without Secure)");
  if (partitioned === true && secure !== true) fail('partitioned: true needs secure: true (browsers reject a Partitioned cookie without Secure)');
  if ((name.startsWith('__Secure-') || name.startsWith('__Host-')) && secure === false) fail('a __Secure- or __Host- cookie must be Secure: browsers reject it otherwise');
  if (name.startsWith('__Host-') && (checked.domain !== undefined || (checked.path ?? '/') !== '/')) fail("a __Host- cookie takes no domain and the path '/': browsers reject it otherwise");
  // RFC 6265bis 5.6.4: the cookie would then be kept for another path than the one given, and deleteCookie() with it miss.
  if (checked.path !== undefined && !String(checked.path).startsWith('/')) {
    fail(`its path must start with "/", got ${describe(checked.path)}: browsers ignore any other (RFC 6265bis 5.6.4) and keep the cookie for the folder of the page that set it`);
  }
  for (const attribute of ['domain', 'path'] as const) {
    const bytes = typeof checked[attribute] === 'string' ? Buffer.byteLength(checked[attribute]) : 0;
    if (bytes > MAX_ATTRIBUTE_BYTES) fail(`its ${attribute} comes to ${bytes} bytes, and browsers ignore a ${attribute} past ${MAX_ATTRIBUTE_BYTES} without a word (the cookie is then kept for another ${attribute} than the one given)`);
  }
  const cookie: PendingCookie = { name, value, options: checked };
  // The library checks domain and path (no ';', no control characters) and the date range.
  let header = '';
  try {
    header = stringifySetCookie(setCookieOf(cookie, value, true));
  } catch (error) {
    // encodeURIComponent's "URI malformed": a string with half a surrogate pair, as JSON.parse('"\\ud800"') gives, has no UTF-8.
    if (error instanceof URIError) fail('its value is not well-formed Unicode (a lone surrogate), which has no UTF-8 to percent-encode');
    // The library's words hold the value raw: a CR/LF in it would split the log line that shows the error.
    const attribute = LIBRARY_ATTRIBUTE.exec((error as Error).message)?.[1] as 'domain' | 'path' | undefined;
    fail(attribute === undefined ? (error as Error).message : `its ${attribute} ${describe(checked[attribute])} holds a character the attribute cannot carry (';' or a control character would end or split the Set-Cookie line)`);
  }
  // The name and value as sent (`name=value` before the first attribute), the value percent-encoded, and signed when it will be.
  const bytes = Buffer.byteLength(header.slice(0, header.indexOf(';'))) - 1 + (checked.signed === true ? signatureLength() : 0);
  if (bytes > MAX_COOKIE_BYTES) {
    fail(`its name and value come to ${bytes} bytes as sent${checked.signed === true ? ', signed' : ''}, and browsers drop a cookie past ${MAX_COOKIE_BYTES} without a word: keep an id in it and the data on the server`);
  }
  return cookie;
}

/** How the cookie library refuses a domain or path it cannot send (its message quotes the value raw). */
const LIBRARY_ATTRIBUTE = /^cookie (domain|path) is invalid/;

/** `response.deleteCookie()`: the cookie, empty and expired. */
export function expiredCookie(where: string, name: string, options: DeleteCookieOptions | undefined): PendingCookie {
  const cookie = pendingCookie(where, name, '', options, DELETE_KEYS);
  return { name, value: '', options: { ...cookie.options, maxAge: 0, expires: EPOCH } };
}

/**
 * The key under which a response keeps a cookie: setting it again (same name,
 * domain, path, and partitioned or not) replaces it. A browser keeps a
 * partitioned cookie (CHIPS) apart from an unpartitioned one of the same name.
 */
export function cookieKey(cookie: PendingCookie): string {
  return `${cookie.name};${cookie.options.domain ?? ''};${cookie.options.path ?? '/'};${cookie.options.partitioned === true ? 'p' : ''}`;
}

/**
 * The `Set-Cookie` values for a response's cookies, decided when it is sent:
 * `Secure` by default when the request is secure (always for `__Secure-` and
 * `__Host-` names), signed values signed with the app's secret.
 */
export function setCookieHeaders(cookies: Iterable<PendingCookie>, secureRequest: boolean, signer: Signer | undefined): string[] {
  const headers: string[] = [];
  for (const cookie of cookies) {
    let { value } = cookie;
    if (cookie.options.signed === true) {
      if (signer === undefined) throw noSecret(`response.setCookie(${JSON.stringify(cookie.name)}, ..., { signed: true })`);
      value = signer.sign(value, saltFor(cookie.name, cookie.options.salt));
    }
    headers.push(stringifySetCookie(setCookieOf(cookie, value, secureRequest)));
  }
  return headers;
}

function setCookieOf({ name, options }: PendingCookie, value: string, secureRequest: boolean): SetCookie {
  const prefixed = name.startsWith('__Secure-') || name.startsWith('__Host-');
  return {
    name,
    value,
    maxAge: options.maxAge,
    expires: options.expires,
    domain: options.domain,
    path: options.path ?? '/',
    secure: options.secure ?? (secureRequest || prefixed),
    httpOnly: options.httpOnly ?? true,
    sameSite: options.sameSite ?? 'lax',
    partitioned: options.partitioned,
    priority: options.priority,
  };
}

/** A signature is bound to the cookie's name, so a value signed for one cookie is no good as another. */
function saltFor(name: string, salt: string | undefined): string {
  return `cookie:${name}:${salt ?? ''}`;
}

function noSecret(what: string): ProgrammingError {
  return new ProgrammingError(`${what} needs the app's \`secret\` option to sign cookies: createApp({ secret: process.env.CODA_SECRET })`);
}
