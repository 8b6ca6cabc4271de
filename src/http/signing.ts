import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe } from '../util/describe.js';

/** The app's `secret` option: one secret, or several, the first signing and all verifying (rotation). */
export type Secret = string | readonly string[];

const SIGNATURE_LENGTH = 43; // base64url of 32 bytes, unpadded

/**
 * Signs and verifies values as Django's `TimestampSigner` does: an HMAC-SHA256
 * over the value and the time it was signed, under a key derived from the
 * secret and a salt per purpose (a cookie's name), compared in constant time.
 * A signed value reads `value.timestamp.signature`.
 */
export class Signer {
  readonly #secrets: readonly string[];

  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
  }

  /** `value` with its timestamp and signature, for `salt`'s purpose. */
  sign(value: string, salt: string): string {
    const stamped = `${value}.${timestamp()}`;
    return `${stamped}.${mac(this.#secrets[0]!, salt, stamped)}`;
  }

  /**
   * The value `signed` carries if one of the secrets signed it for `salt`,
   * not more than `maxAge` seconds ago when given; else undefined. Never throws.
   */
  verify(signed: string, salt: string, maxAge?: number): string | undefined {
    const dot = signed.length - SIGNATURE_LENGTH - 1;
    if (dot < 1 || signed.charCodeAt(dot) !== 0x2e /* '.' */) return undefined;
    const stamped = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    // 43 characters may be more bytes (non-ASCII), and timingSafeEqual throws on unequal lengths.
    if (given.length !== SIGNATURE_LENGTH) return undefined;
    if (!this.#secrets.some((secret) => timingSafeEqual(given, Buffer.from(mac(secret, salt, stamped))))) return undefined;
    const stampDot = stamped.lastIndexOf('.');
    if (stampDot === -1) return undefined;
    if (maxAge !== undefined) {
      const signedAt = parseInt(stamped.slice(stampDot + 1), 36);
      if (!(Date.now() / 1000 - signedAt <= maxAge)) return undefined;
    }
    return stamped.slice(0, stampDot);
  }
}

/** The seconds since 1970, in base 36: when a value was signed. */
function timestamp(): string {
  return Math.floor(Date.now() / 1000).toString(36);
}

/** How many characters signing adds to a value now: its timestamp and signature, each after a '.'. */
export function signatureLength(): number {
  return timestamp().length + SIGNATURE_LENGTH + 2;
}

/** HMAC-SHA256 of `value` under a key derived from `secret` and `salt` (Django's `salted_hmac`). */
function mac(secret: string, salt: string, value: string): string {
  const key = createHmac('sha256', secret).update(`coda-http.signer:${salt}`).digest();
  return createHmac('sha256', key).update(value).digest('base64url');
}

/**
 * Below this, a secret can be guessed offline: one signed cookie and a list
 * of words is all it takes. 32 random characters hold 190 bits or more.
 */
const MIN_SECRET_LENGTH = 32;
/** With the u flag a surrogate pair is one code point: only half a pair is in category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks the app's `secret` option: undefined (not configured), or non-empty
 * well-formed strings. The list is copied: changing it later changes
 * nothing. A secret under 32 characters is taken, and `warn` is told why it
 * should not be, as Django's check security.W009 warns of a short SECRET_KEY
 * (a test's or a demo's short secret keeps working). A message names the
 * problem, never the secret.
 */
export function signerFor(secret: Secret | undefined, warn: (message: string) => void): Signer | undefined {
  if (secret === undefined) return undefined;
  // Copied before it is checked: what is checked is what signs.
  const secrets: readonly unknown[] = Object.freeze(typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...(secret as unknown[])] : []);
  if (secrets.length === 0 || !secrets.every((s): s is string => typeof s === 'string' && s.length > 0)) {
    throw new TypeError(`createApp(): secret must be a non-empty string or a non-empty list of them (the first signs, all verify), got ${describe(secret)}`);
  }
  secrets.forEach((one, index) => {
    const which = typeof secret === 'string' ? 'secret' : `secret #${index + 1} of the list`;
    // UTF-8 writes U+FFFD for half a surrogate pair: secrets differing there would make one key.
    if (LONE_SURROGATE.test(one)) throw new TypeError(`createApp(): ${which} is not well-formed Unicode (a lone surrogate), which has no UTF-8 to make a key of: two such secrets would be one key`);
    if (one.length < MIN_SECRET_LENGTH) {
      warn(`createApp(): ${which} is ${one.length} characters long: one that short can be guessed offline from any signed cookie; use ${MIN_SECRET_LENGTH} or more random characters (node -e "console.log(crypto.randomBytes(32).toString('base64url'))")`);
    }
  });
  return new Signer(secrets);
}
