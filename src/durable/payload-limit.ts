import { checkAmount } from '../util/options.js';

/**
 * The largest payload a durable task takes by default, as JSON in UTF-8: 1
 * MiB, the app's default `bodyLimit` (a request's body passes whole) and
 * Amazon SQS's message limit. A payload is journaled in the request, parsed
 * at every attempt and kept until pruned: 50 MB held the event loop a third
 * of a second at registration and again at each attempt.
 */
export const DEFAULT_PAYLOAD_LIMIT = 1024 * 1024;

/** `tasks.payloadLimit` checked: a whole number of bytes, at least 1. */
export function checkPayloadLimit(what: string, value: unknown): number {
  const limit = checkAmount(what, value, 'bytes');
  if (limit === 0) throw new RangeError(`${what} must be at least 1 byte (0 would refuse every payload), got 0`);
  return limit;
}
