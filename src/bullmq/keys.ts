import { FAILED_INDEX, HELD, queueName } from './jobs.js';

/**
 * The Redis key names of one store's prefix: BullMQ's own per queue (one per
 * task name, `<prefix>:<name>`), and Coda's beside them.
 */
export class Keys {
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** The prefix of a task name's queue's keys (BullMQ's, with `:` and a suffix). */
  queueKey(name: string): string {
    return `${this.#prefix}:${queueName(name)}`;
  }

  /** A task's job hash. */
  jobKey(name: string, id: string): string {
    return `${this.queueKey(name)}:${id}`;
  }

  /** A task name's holds: its held tasks' ids, scored by their leases. */
  heldKey(name: string): string {
    return `${this.queueKey(name)}:${HELD}`;
  }

  /** The set of the task names this prefix has tasks of. */
  namesKey(): string {
    return `${this.#prefix}:coda-names`;
  }

  /** Written once, at the first open on this Redis: whether Redis lost its data since (see the store's epoch). */
  epochKey(): string {
    return `${this.#prefix}:coda-epoch`;
  }

  /** A name's failed set and its failed index. */
  failedKeys(name: string): [string, string] {
    const q = this.queueKey(name);
    return [`${q}:failed`, `${q}:${FAILED_INDEX}`];
  }
}
