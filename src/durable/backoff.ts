import type { Backoff } from './store.js';

const HOUR = 60 * 60_000;

/**
 * How long to wait before the attempt after `attempt` (1-based): fixed, or
 * doubling from `delayMs`, capped at `maxDelayMs`, with a `jitter` fraction of
 * it drawn from `random` (so that many tasks failing together retry apart).
 *
 * @example
 * ```ts
 * retryDelay({ type: 'exponential', delayMs: 1000, jitter: 0 }, 3, Math.random); // 4000
 * ```
 */
export function retryDelay(backoff: Backoff, attempt: number, random: () => number): number {
  // 2^1024 is Infinity, and 0 x Infinity is NaN: the exponent stops where the cap has long been reached.
  const base = backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** Math.min(Math.max(0, attempt - 1), 1_000);
  const capped = Math.min(base, backoff.maxDelayMs ?? HOUR);
  const jitter = backoff.jitter ?? 0.2;
  return Math.round(capped * (1 - jitter + jitter * random()));
}
