import { randomUUID } from 'node:crypto';

/** The last millisecond an id was made in, and its part of the id. */
let lastMs = Number.NaN;
let timePart = '';

/**
 * A UUID version 7 (RFC 9562): 48 bits of epoch milliseconds, then random
 * bits. Ids made later sort later, so a store's id index grows at its end
 * instead of taking each insert on a random page. The random bits are a
 * version 4 UUID's, past its version digit (Node draws those from a buffer
 * it fills in bulk: one call into the random generator per 128 ids). The
 * time part is kept for the millisecond it was made in: ids made in one
 * burst share it (a number's hexadecimal digits are dear to work out).
 */
export function timeOrderedId(now: number): string {
  const ms = Math.floor(now);
  if (ms !== lastMs) {
    const hex = ms.toString(16).padStart(12, '0');
    lastMs = ms;
    timePart = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
  }
  return timePart + randomUUID().slice(15);
}
