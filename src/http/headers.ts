import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { inspect } from 'node:util';
import { kNodeHeaders, kNonAscii, kSentHeaders, kSetTrusted } from '../symbols.js';
import type { StylizedInspectOptions } from '../util/inspect-options.js';
import { refuseOnSent } from './sending.js';

const SET_LATE = 'a header set now would never reach the client; set it before the response is returned';
const DELETED_LATE = 'a header deleted now would still reach the client; delete it before the response is returned';

/** An RFC 9110 token: a header name, a cookie name, a method. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const SPLITS_RESPONSE = /[\r\n\0]/;
// What Node's writeHead refuses (field-content: tab, visible ASCII, obs-text).
// Checked here too, so such a value fails where it is set and not on the wire,
// where the only way out is to drop the connection without a response.
const NOT_SENDABLE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * A record that inherits no keys (`constructor`, `__proto__` are plain keys
 * here), yet stays a fast-mode object for V8, unlike `Object.create(null)`:
 * its prototype is an empty null-prototype object.
 */
const HeaderRecord = function HeaderRecord() {} as unknown as new () => Record<string, string | string[]>;
(HeaderRecord as { prototype: unknown }).prototype = Object.create(null);

/** What a response's headers may be built from. */
export type HeadersInit =
  | Record<string, string | number | readonly string[]>
  | Iterable<readonly [string, string]>
  | ResponseHeaders;

/**
 * A response's headers. Names are case-insensitive; `Set-Cookie` values are kept
 * apart. Names and values are checked when they are set, so a header injection
 * (CR or LF in a value) fails in the code that caused it, never on the wire.
 *
 * Values are Latin-1, as in Django: each character from U+0000 to U+00FF is one
 * byte on the wire (`café` ends in the byte 0xE9), whatever the body; a
 * character above U+00FF is refused with a TypeError where it is set. To carry
 * other text, encode it yourself, e.g. RFC 8187's `filename*=UTF-8''%E2%98%83`.
 *
 * Set everything before the response is returned: a change made by its own
 * request once it is being sent (in an after() task, an afterResponse hook,
 * its stream) would never reach the client, and is a TypeError saying so.
 *
 * @example
 * ```ts
 * response.headers.set('cache-control', 'no-store');
 * response.headers.append('set-cookie', 'a=1');
 * response.headers.append('set-cookie', 'b=2');
 * ```
 */
export class ResponseHeaders implements Iterable<[string, string]> {
  // Handed to writeHead as it is: no copy per response.
  #map: Record<string, string | string[]> = new HeaderRecord();
  #nonAscii = false;
  /** Node's record of the headers a response sent, until first read (see `kSentHeaders`). */
  #sent: OutgoingHttpHeaders | undefined = undefined;

  // Kept this small so that V8 inlines it into every response's constructor: the filling is apart.
  constructor(init?: HeadersInit) {
    if (init !== undefined) ResponseHeaders.#fill(this, init);
  }

  // Static, as a private method would cost each instance a brand field.
  static #fill(headers: ResponseHeaders, init: HeadersInit): void {
    if (init instanceof ResponseHeaders) {
      for (const [name, value] of init.#rawEntries()) headers.#map[name] = Array.isArray(value) ? [...value] : value;
      headers.#nonAscii = init.#nonAscii;
    } else if (isIterable(init)) {
      for (const [name, value] of init) ResponseHeaders.#add(headers, name, value);
    } else {
      for (const name of Object.keys(init)) {
        const value = init[name]!;
        if (typeof value === 'object') for (const v of value) ResponseHeaders.#add(headers, name, v);
        else ResponseHeaders.#add(headers, name, String(value));
      }
    }
  }

  get(name: string): string | null {
    const value = this.#record()[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }

  /** Every `Set-Cookie` value, one per cookie. */
  getSetCookie(): string[] {
    const value = this.#record()['set-cookie'];
    if (value === undefined) return [];
    return typeof value === 'string' ? [value] : [...value];
  }

  has(name: string): boolean {
    return this.#record()[name.toLowerCase()] !== undefined;
  }

  set(name: string, value: string): this {
    refuseOnSent(this, 'response.headers.set()', SET_LATE);
    const key = checkName(name);
    if (checkValue(name, value)) this.#nonAscii = true;
    this.#record()[key] = value;
    return this;
  }

  append(name: string, value: string): this {
    refuseOnSent(this, 'response.headers.append()', SET_LATE);
    ResponseHeaders.#add(this, name, value);
    return this;
  }

  /** `append()` less its check for a response being sent: headers being built (the constructor's) belong to no response yet. */
  static #add(headers: ResponseHeaders, name: string, value: string): void {
    const key = checkName(name);
    if (checkValue(name, value)) headers.#nonAscii = true;
    const map = headers.#record();
    const existing = map[key];
    if (existing === undefined) map[key] = value;
    else if (typeof existing === 'string') map[key] = [existing, value];
    else existing.push(value);
  }

  delete(name: string): this {
    refuseOnSent(this, 'response.headers.delete()', DELETED_LATE);
    delete this.#record()[name.toLowerCase()];
    return this;
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const [name, value] of this.#rawEntries()) {
      if (typeof value === 'string') yield [name, value];
      else if (name === 'set-cookie') for (const v of value) yield [name, v];
      else yield [name, value.join(', ')];
    }
  }

  /** The headers as a plain record (names in lower case, Set-Cookie an array when several): what `JSON.stringify()` writes. */
  toJSON(): Record<string, string | string[]> {
    // A header may be named __proto__ (a token): defined, not assigned, so that it stays a key.
    const record: Record<string, string | string[]> = {};
    for (const [name, value] of this.#rawEntries()) Object.defineProperty(record, name, { value: typeof value === 'string' ? value : [...value], enumerable: true, writable: true, configurable: true });
    return record;
  }

  /** What `console.log()` and `util.inspect()` show: the record `toJSON()` makes, as undici's Headers shows its entries. */
  [inspect.custom](depth: number, options: StylizedInspectOptions, show: typeof inspect): string {
    if (depth < 0) return options.stylize('[ResponseHeaders]', 'special');
    return `ResponseHeaders ${show(this.toJSON(), { ...options, depth })}`;
  }

  #rawEntries(): [string, string | string[]][] {
    return Object.entries(this.#record());
  }

  /** @internal Sets a header Coda itself chose (a constant), or one Node has checked already: no checks. */
  [kSetTrusted](name: string, value: string | string[]): void {
    this.#record()[name] = value;
  }

  /** @internal Whether a value beyond ASCII was set (kept after a delete: it only costs a copy of the body). */
  get [kNonAscii](): boolean {
    return this.#nonAscii;
  }

  /**
   * @internal Stands for the headers another framework sent (Node's
   * `getHeaders()` record, checked by Node when they were set): copied in only
   * when something reads them, which most responses' tasks never do.
   */
  [kSentHeaders](record: OutgoingHttpHeaders): void {
    this.#sent = record;
  }

  #record(): Record<string, string | string[]> {
    const sent = this.#sent;
    if (sent !== undefined) {
      this.#sent = undefined;
      for (const name in sent) {
        const value = sent[name]!;
        this.#map[name] = typeof value === 'object' ? value.map(String) : String(value);
      }
    }
    return this.#map;
  }

  /** @internal The record handed to `ServerResponse.writeHead`. */
  [kNodeHeaders](): Record<string, string | string[]> {
    return this.#record();
  }
}

function isIterable(value: object): value is Iterable<readonly [string, string]> {
  return typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function';
}

// Names seen before, as given -> lower case: apps set the same few names on
// every response, so each is validated once. Bounded, in case names are built.
const CHECKED_NAMES = new Map<string, string>();

function checkName(name: string): string {
  const known = CHECKED_NAMES.get(name);
  if (known !== undefined) return known;
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  const key = name.toLowerCase();
  if (CHECKED_NAMES.size < 1024) CHECKED_NAMES.set(name, key);
  return key;
}

/** Throws unless `value` can go on the wire; returns whether it has characters beyond ASCII (Latin-1 ones). */
function checkValue(name: string, value: string): boolean {
  if (typeof value !== 'string') {
    throw new TypeError(`header ${name} must be a string, got ${typeof value}`);
  }
  if (isAsciiText(value)) return false;
  const bad = NOT_SENDABLE.exec(value);
  if (bad !== null) {
    if (SPLITS_RESPONSE.test(value)) {
      throw new TypeError(`header ${name} has a CR, LF or NUL character in its value, which would split the response: ${JSON.stringify(value)}`);
    }
    // The whole code point (an emoji's, not its first surrogate's): the regex reads UTF-16 units.
    const point = value.codePointAt(bad.index)!;
    const code = `U+${point.toString(16).toUpperCase().padStart(4, '0')}`;
    if (point > 0xff) {
      // Most often a download's name: say how such text is carried.
      const utf8 = [...Buffer.from(String.fromCodePoint(point))].map((byte) => `%${byte.toString(16).toUpperCase()}`).join('');
      throw new TypeError(`header ${name} has a character beyond Latin-1 in its value (${code}), which a header cannot carry: percent-encode such text as UTF-8 (${code} is ${utf8}), as RFC 8187 has it, e.g. a download's name as Content-Disposition: attachment; filename*=UTF-8''…: ${JSON.stringify(value)}`);
    }
    throw new TypeError(`header ${name} has a character HTTP cannot carry in its value (${code}; only tab, visible ASCII and Latin-1 are allowed): ${JSON.stringify(value)}`);
  }
  return true;
}

/**
 * Whether `value` is tab and visible ASCII only: the common value passes this
 * one scan. A loop, not a regex: most values are short, and a regex test
 * costs more to enter than such a loop costs whole.
 */
function isAsciiText(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code > 0x7e || (code < 0x20 && code !== 0x09)) return false;
  }
  return true;
}

/**
 * A request's headers, read-only and case-insensitive, over Node's parsed
 * record without copying it.
 */
export class RequestHeaders {
  readonly #raw: IncomingHttpHeaders;

  constructor(raw: IncomingHttpHeaders) {
    this.#raw = raw;
  }

  get(name: string): string | null {
    // Node's names are in lower case, as callers mostly write them: only a miss needs lowering.
    const value = this.#raw[name] ?? this.#raw[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : value.join(', ');
  }

  has(name: string): boolean {
    return (this.#raw[name] ?? this.#raw[name.toLowerCase()]) !== undefined;
  }

  /** Node's parsed headers: lower-case names, `set-cookie` as an array. */
  get raw(): IncomingHttpHeaders {
    return this.#raw;
  }
}
