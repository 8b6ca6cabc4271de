import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/**
 * What the pieces of a BullmqStore need of it, passed to them explicitly (its
 * state stays its own): each field read as it is when used.
 */
export interface StoreHandle {
  /** The store's connection, once open. */
  readonly client: Redis;
  readonly keys: Keys;
  readonly description: string;
  /** What to add to this process's time to get Redis's (see BullmqStore's skew), as last measured. */
  readonly skew: number;
  /** BullMQ, once the store has loaded it (at open). */
  readonly bull: typeof import('bullmq');
  /** The value of the prefix's epoch key the store found at open (see BullmqStore's epoch). */
  readonly epoch: string | null;
}
