import type { Redis } from 'ioredis';
import { writeWithRetries, WRITE_RETRIES, type RetryPolicy } from '../durable/write-retries.js';
import { untilDeadline } from '../util/deadline.js';
import { runScript } from './scripts.js';

/** How long an undo mark stays: longer than any registration can wait in a socket or ioredis's resend. */
const MARK_SECONDS = 24 * 60 * 60;
/**
 * The most tasks kept to undo: a Redis frozen for long under load times out a
 * registration per request, and each would otherwise be kept until it wakes.
 */
export const MAX_UNDO_TASKS = 10_000;
/** Undos are sent until Redis takes them (or the store closes), as often as a refused store write is. */
const UNTIL_TAKEN: RetryPolicy = { attempts: Infinity, delayMs: WRITE_RETRIES.delayMs };

/** One task of a registration to undo: its queue's key prefix, id, key and kind. */
export interface UndoTask {
  queue: string;
  id: string;
  key: string | null;
  held: boolean;
}

/**
 * Registrations that failed after they may have reached Redis (a command
 * timed out: Redis may be frozen and run it when it wakes; a connection lost
 * with it in flight, which ioredis may send again): the request was told the
 * task was not journaled, so it must not run. Each is undone by its call's
 * token (the undo script), sent until Redis takes it, all pending in one
 * call. Its mark makes a registration that reaches Redis after its undo write
 * nothing.
 */
export class Undos {
  readonly #client: Redis;
  readonly #markPrefix: string;
  readonly #pending = new Map<string, UndoTask[]>();
  /** The tasks in `#pending`. */
  #tasks = 0;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(client: Redis, prefix: string) {
    this.#client = client;
    this.#markPrefix = `${prefix}:coda-undone:`;
  }

  /** The key that marks a registration call as undone. */
  markOf(token: string): string {
    return this.#markPrefix + token;
  }

  /**
   * Undoes the registration call `token` (its tasks as given), now and until Redis takes it (once the store is
   * closed, no more). False when it would make more than MAX_UNDO_TASKS tasks wait to be undone: it is not kept
   * (should Redis carry the call out, its held tasks run once their holds expire, as a dead process's do, and its
   * ready ones at once). One registration is kept whatever its size: the bound is on those that pile up behind it.
   */
  add(token: string, tasks: readonly UndoTask[]): boolean {
    if (this.#closed) return true;
    if (this.#tasks > 0 && this.#tasks + tasks.length > MAX_UNDO_TASKS) return false;
    this.#pending.set(token, [...tasks]);
    this.#tasks += tasks.length;
    this.#running ??= this.#run();
    return true;
  }

  /** Waits until `deadline` (a performance.now() time) for the undos pending; returns the tokens of those given up. */
  async close(deadline: number): Promise<string[]> {
    if (this.#running !== undefined) await untilDeadline(this.#running, deadline);
    this.#closed = true;
    const left = [...this.#pending.keys()];
    this.#pending.clear();
    this.#tasks = 0;
    return left;
  }

  async #run(): Promise<void> {
    // Redis away or not answering: sent again (the undo is idempotent); close() reports what it never took.
    while (this.#pending.size > 0 && !this.#closed) await writeWithRetries(() => this.#send(), () => {}, UNTIL_TAKEN);
    // Set here, not in a finally: an add() from now on starts a new run.
    this.#running = undefined;
  }

  /** One call for every undo pending (none once closed). */
  async #send(): Promise<void> {
    if (this.#closed) return;
    const sent = [...this.#pending];
    await runScript(this.#client, 'undo', [], [MARK_SECONDS, ...sent.flatMap(([token, tasks]) => [
      this.markOf(token), token, tasks.length, ...tasks.flatMap(({ queue, id, key, held }) => [queue, id, key ?? '', held ? 'held' : 'ready']),
    ])]);
    for (const [token, tasks] of sent) {
      this.#pending.delete(token);
      this.#tasks -= tasks.length;
    }
  }
}
