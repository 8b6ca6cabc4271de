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

/**
 * Refuses a payload (its JSON) longer than `limit` bytes in UTF-8, naming
 * the task and both sizes. Counted only when it may be over: a UTF-16 unit
 * is at most 3 bytes, and never less than 1.
 */
export function checkPayloadSize(task: string, payload: string, limit: number): void {
  if (payload.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(payload);
  if (bytes <= limit) return;
  throw new RangeError(
    `the payload of durable task '${task}' is ${bytes} bytes of JSON, over the limit of ${limit} (createApp({ tasks: { payloadLimit } })): pass a reference to large data (a row's id, a file's path), not the data`,
  );
}
