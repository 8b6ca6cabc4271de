import { randomFillSync } from 'node:crypto';

const bytes = new Uint8Array(16);

/**
 * A UUID version 7 (RFC 9562): 48 bits of epoch milliseconds, then random
 * bits. Ids made later sort later, so a store's id index grows at its end
 * instead of taking each insert on a random page.
 */
export function timeOrderedId(now: number): string {
  randomFillSync(bytes, 6);
  let time = Math.floor(now);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256;
    time = Math.floor(time / 256);
  }
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
