import { randomUUID } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562): 48 bits of epoch milliseconds, then random
 * bits. Ids made later sort later, so a store's id index grows at its end
 * instead of taking each insert on a random page. The random bits are a
 * version 4 UUID's, past its version digit (Node draws those from a buffer
 * it fills in bulk: one call into the random generator per 128 ids).
 */
export function timeOrderedId(now: number): string {
  const ms = Math.floor(now).toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${randomUUID().slice(15)}`;
}
