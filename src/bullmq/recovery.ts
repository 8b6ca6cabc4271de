import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import type { JobEnds } from './ends.js';
import { fromPairs } from './jobs.js';
import { runScript } from './scripts.js';
import { readableJob } from './unreadable.js';
import type { Workers } from './workers.js';

/** At most this many lapsed holds (and running jobs looked at) per task name per sweep: a script runs alone on Redis, so it stays short; the next sweep takes the rest. */
const SWEEP_BATCH = 1000;

/**
 * A store's recoveries (see BullmqStore.recover()): lapsed holds swept into
 * BullMQ, and running jobs whose lease ran out failed as stalled.
 */
export class Recovery {
  readonly #store: StoreHandle;
  readonly #bulls: Workers;
  readonly #ends: JobEnds;
  /** How many lapsed jobs a recovery cut short by its deadline went on to fail (see recover()): the next reports them. */
  #unfinished = Promise.resolve(0);

  constructor(store: StoreHandle, bulls: Workers, ends: JobEnds) {
    this.#store = store;
    this.#bulls = bulls;
    this.#ends = ends;
  }

  /**
   * One recovery at `now`, each step within its call's time, Redis's clock measured again first (`measureSkew`):
   * how many holds it swept, and how many lapsed jobs it failed (with those a recovery cut short went on to fail).
   */
  async sweep(client: Redis, now: number, random: () => number, lockMs: number, measureSkew: (client: Redis) => Promise<void>, within: Within): Promise<[number, number]> {
    // What a recovery cut short left under way, finished first: its jobs are counted here.
    const late = await within(this.#unfinished);
    this.#unfinished = Promise.resolve(0);
    // A clock set right (or wrong) since the last look: leases judged by what Redis's clock says now.
    const [, names] = await within(Promise.all([measureSkew(client), client.smembers(this.#store.keys.namesKey())]));
    const swept = await within(Promise.all(names.map((name) => runScript(client, 'sweep', [this.#store.keys.heldKey(name)], [now, `${this.#store.keys.queueKey(name)}:`, SWEEP_BATCH, name, now + this.#store.skew]))));
    within.check();
    // Carried on past the call's time once begun: a lapsed job's lock is taken by the first step, and a recovery
    // that stopped there left it under that lock for its time, run by no one.
    const failing = Promise.all(names.map((name) => this.#failLapsed(name, now, random, lockMs))).then((failed) => failed.reduce((sum, n) => sum + n, 0));
    this.#unfinished = failing.catch(() => 0);
    const failed = await within(failing);
    this.#unfinished = Promise.resolve(0);
    return [swept.reduce((sum: number, n) => sum + Number(n), 0), late + failed];
  }

  /**
   * A name's running jobs whose lease ran out by `now` (the store's time, which BullMQ's lock expiry, timed by Redis,
   * does not follow): their locks taken over for `lockMs`, their attempts failed as stalled, by their backoff. Returns
   * how many.
   */
  async #failLapsed(name: string, now: number, random: () => number, lockMs: number): Promise<number> {
    const token = `recover|${randomUUID()}`;
    const found = await runScript(this.#store.client, 'lapsed', [`${this.#store.keys.queueKey(name)}:active`], [now + this.#store.skew, `${this.#store.keys.queueKey(name)}:`, token, lockMs, SWEEP_BATCH]) as (string | string[])[];
    if (found.length === 0) return 0;
    const worker = this.#bulls.worker(name);
    // All at once, each job's few steps in as many round trips whatever their number: one after another, a sweep's
    // batch took a round trip per step per job, which one deadline for the call (see recover()) does not allow.
    const failed = await Promise.all(Array.from({ length: found.length / 2 }, async (_, i) => {
      const [id, hash] = [found[i * 2] as string, fromPairs(found[i * 2 + 1] as string[])];
      // BullMQ's read of a job edited by hand threw, and with it every recovery: such a job fails for good.
      const readable = readableJob(hash);
      const job = readable === undefined ? await this.#store.bull.Job.fromId(worker as never, id) : this.#bulls.jobOf(worker, id, { ...hash, ...readable.fields });
      if (job === undefined) return 0;
      const claim = { job, token, owner: 'recover', queue: name };
      if (readable !== undefined) {
        await this.#ends.failUnreadable(claim, readable, this.#ends.stalledError(job, hash, now));
        return 0;
      }
      await this.#ends.failStalled(claim, hash, now, random);
      return 1;
    }));
    return failed.reduce((sum: number, n) => sum + n, 0);
  }
}
