import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { OutageLog } from '../log/outage-log.js';
import { StoreUnavailable } from './errors.js';
import { safeLog, type SafeLog } from '../log/safe-log.js';
import type { AddResult, NewTask, Release, Released, ReleaseClaim, TaskStore } from './store.js';
import { Waiters } from '../util/waiters.js';
import { writeWithRetries } from './write-retries.js';
import { CHUNK_SIZE, chunksByUnit } from './chunks.js';

/** The journal's calls in the outage's log it shares with the runner (see OutageLog.succeeded()). */
const CALLER = 'registrations';

/** Writes a release (`write`, given the claim to carry), then runs what it claimed and wakes the runner for what it left ready. */
export type Releaser = (write: (claim: ReleaseClaim | undefined) => Promise<Released>) => Promise<void>;

interface PendingAdd {
  task: NewTask;
  /** The request that registered it (undefined for an enqueue): its registrations of a turn share one transaction. */
  unit: object | undefined;
  resolve: (result: AddResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: every task added and every hold released during one turn of
 * the event loop goes to the store in one call (one transaction), so that
 * journaling costs little per request; a flood of registrations (past
 * CHUNK_SIZE) in several, a turn of the event loop between them, each
 * request's whole in one. Releases are written through
 * `release` (the runner's), which adds a claim for the tasks this process
 * has room to run at once. The journal knows
 * the holds it has not yet released (`holds`): the heartbeat renews them.
 */
export class Journal {
  readonly #store: TaskStore;
  readonly #owner: string;
  readonly #leaseUntil: () => number;
  readonly #release: Releaser;
  /** Lines that throw never stop a registration or a release (see safeLog()). */
  readonly #logger: SafeLog;
  #adds: PendingAdd[] = [];
  #releases: Release[] = [];
  #scheduled = false;
  #writing = 0;
  readonly #idleWaiters = new Waiters();
  readonly #holds = new Set<string>();
  /** A store that refuses adds is logged once, then summed up (each refused request is logged at debug only). */
  readonly #refusals: OutageLog;

  /** `refusals`: the log of the store's outage, the runner's: the process's calls are one outage (see Runner.outage). */
  constructor(store: TaskStore, owner: string, leaseUntil: () => number, release: Releaser, logger: Logger, refusals: OutageLog) {
    this.#store = store;
    this.#owner = owner;
    this.#leaseUntil = leaseUntil;
    this.#release = release;
    this.#logger = safeLog(logger);
    this.#refusals = refusals;
  }

  /** Journals a task with this turn's others (in one transaction with `unit`'s, its request's); resolves once it is in the store. */
  add(task: NewTask, unit?: object): Promise<AddResult> {
    return new Promise((resolve, reject) => {
      this.#adds.push({ task, unit, resolve, reject });
      this.#schedule();
    });
  }

  /** Ends a hold with this turn's others. */
  release(release: Release): void {
    this.#releases.push(release);
    this.#schedule();
  }

  /** The ids of the tasks this journal holds: journaled, their release not yet taken by the store. */
  get holds(): ReadonlySet<string> {
    return this.#holds;
  }

  /** Nothing waits to be written, and no write is under way. */
  get idle(): boolean {
    return !this.#scheduled && this.#writing === 0;
  }

  /** Resolves once nothing waits to be written and no write is under way (shutdown writes what was handed over first). */
  whenIdle(): Promise<void> {
    return this.#idleWaiters.wait(this.idle);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const adds = this.#adds;
    const releases = this.#releases;
    this.#adds = [];
    this.#releases = [];
    this.#writing++;
    try {
      if (adds.length > 0) await this.#writeAdds(adds);
      if (releases.length > 0) await this.#writeReleases(releases);
    } finally {
      this.#writing--;
      if (this.idle) this.#idleWaiters.wake();
    }
  }

  /**
   * A turn's registrations, in one transaction up to CHUNK_SIZE; past that in several, each request's in one, the
   * event loop let run between them: 100,000 in one transaction held it (every request, every timer) for over a
   * second on SQLite.
   */
  async #writeAdds(adds: PendingAdd[]): Promise<void> {
    if (adds.length <= CHUNK_SIZE) return this.#writeChunk(adds);
    for (const [i, chunk] of chunksByUnit(adds, CHUNK_SIZE).entries()) {
      if (i > 0) await nextTurn();
      await this.#writeChunk(chunk);
    }
  }

  async #writeChunk(adds: PendingAdd[]): Promise<void> {
    let results: AddResult[];
    try {
      results = await this.#store.add(adds.map(({ task }) => task), this.#owner, this.#leaseUntil());
    } catch (error) {
      this.#refusals.failed(error, adds.length, CALLER);
      for (const { reject } of adds) reject(error);
      return;
    }
    this.#refusals.succeeded(CALLER);
    adds.forEach(({ task, resolve }, i) => {
      const result = results[i]!;
      if (task.held && !result.duplicate) this.#holds.add(result.id);
      resolve(result);
    });
  }

  /**
   * Written again (every second at most, for a minute) while the store
   * refuses it, its hold renewed meanwhile, so that the task runs with its
   * outcome; past that, the hold is let go: it runs out, and recovery runs the
   * task, its outcome unknown. The retries are the flush's: the journal is not
   * idle (settle() waits) until the release is written or given up.
   */
  async #writeReleases(releases: Release[]): Promise<void> {
    const written = await writeWithRetries(
      () => this.#release((claim) => this.#store.release(releases, this.#owner, claim)),
      (error) => {
        // The store's outage, a line for it, not one per release: a request's release each was an error line.
        if (error instanceof StoreUnavailable) this.#refusals.failed(error, releases.length, CALLER);
        else this.#logger.error({ err: error, tasks: releases.length }, `could not release held durable tasks in the ${this.#store.description}; trying again`);
      },
    );
    if (written) {
      this.#refusals.succeeded(CALLER);
    } else {
      this.#logger.error({ tasks: releases.length }, `gave up releasing held durable tasks in the ${this.#store.description}; they run once their lease has run out, their outcome unknown`);
    }
    for (const { id } of releases) this.#holds.delete(id);
  }
}
