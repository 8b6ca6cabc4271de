import { setTimeout as delay } from 'node:timers/promises';

/** How a store write the store refused is tried again. */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** The wait after the `attempt`th refusal (from 1). */
  delayMs(attempt: number): number;
}

/** About a minute in all, every second at most: long enough for a store to come back from a blip, short of a lease's worth of doubt. */
export const WRITE_RETRIES: RetryPolicy = { attempts: 65, delayMs: (attempt) => Math.min(1_000, 50 * 2 ** attempt) };

/** One try, no waiting for the store to come back (a runner shutting down). */
export const ONE_TRY: RetryPolicy = { attempts: 1, delayMs: () => 0 };

/**
 * Calls `write` until it resolves or the policy's attempts are spent; `refused`
 * hears the first refusal. Resolves with whether it was written. The waits are
 * unref'd: a retry does not keep a process alive that has nothing else to do.
 */
export async function writeWithRetries(write: () => Promise<unknown>, refused: (error: unknown) => void, policy: RetryPolicy = WRITE_RETRIES): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return true;
    } catch (error) {
      if (attempt === 1) refused(error);
      if (attempt >= policy.attempts) return false;
      await delay(policy.delayMs(attempt), undefined, { ref: false });
    }
  }
}
