import type { Worker } from 'bullmq';
import type { ClaimRequest, StoredTask } from '../durable/store.js';
import { isUnavailable, type Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import type { Claim, JobEnds } from './ends.js';
import { Fetched } from './fetched.js';
import { FIELD, fromPairs, isTaskData, toTask, type JobData } from './jobs.js';
import { runScript } from './scripts.js';
import { awaitEvery } from '../util/await-every.js';
import { readableJob } from './unreadable.js';
import { clientOf, type Workers } from './workers.js';

/** A task this process holds: its name, its key and the owner holding it. */
export interface Hold {
  name: string;
  key: string | null;
  owner: string;
}

/**
 * The claim path of a store: due jobs promoted, each name's share of a claim,
 * the jobs fetched by BullMQ's workers, and the claims' bookkeeping written
 * and read back as tasks; a claim cut short gives its jobs back.
 */
export class Claimer {
  readonly #store: StoreHandle;
  readonly #bulls: Workers;
  readonly #ends: JobEnds;
  /** The store's claims, by id: a task claimed is tracked there (renewed by the heartbeat). */
  readonly #claims: Map<string, Claim>;
  /** The store's holds, by id: a task claimed is held no more. */
  readonly #holds: Map<string, Hold>;
  #tokens = 0;

  constructor(store: StoreHandle, bulls: Workers, ends: JobEnds, claims: Map<string, Claim>, holds: Map<string, Hold>) {
    this.#store = store;
    this.#bulls = bulls;
    this.#ends = ends;
    this.#claims = claims;
    this.#holds = holds;
  }

  /**
   * A claim's time ahead of this process's clock (a clock a test moves by hand) is honoured: the names' delayed jobs
   * due by it are promoted first, as BullMQ's fetch promotes those due by Date.now(). At or behind it (the runner's
   * every claim), BullMQ's own promotion does it, and this costs nothing.
   */
  async promote(names: readonly string[], now: number): Promise<void> {
    if (now <= Date.now()) return;
    const client = this.#store.client;
    await Promise.all(names.map((name) => {
      const q = this.#store.keys.queueKey(name);
      return runScript(client, 'promote', ['delayed', 'wait', 'paused', 'meta', 'marker', 'events'].map((suffix) => `${q}:${suffix}`), [now, `${q}:`]);
    }));
  }

  /**
   * Fetches up to the request's limit (less what `fetched` holds already) of its names' waiting jobs into `fetched`:
   * every fetch of the turn on one connection, one round trip. Each step within the call's time: a fetch still under
   * way when it runs out brings its job to `fetched` after the cut (see Fetched).
   */
  async fetch(request: Omit<ClaimRequest, 'now'>, fetched: Fetched<Claim>, within: Within, fronts?: ReadonlyMap<string, number>): Promise<void> {
    const { owner, names, concurrency, limit, leaseUntil } = request;
    // Across names, each gets its share of the limit by age; a release's claim or one for given ids says what it wants instead.
    const shares = names.length > 1 && fronts === undefined && request.ids === undefined ? await within(this.#shares(names, limit)) : undefined;
    for (const name of names) {
      within.check();
      let room = limit - fetched.jobs.length;
      if (room <= 0) break;
      if (shares !== undefined) room = Math.min(room, shares.get(name) ?? 0);
      if (room <= 0) continue;
      const worker = await within(this.fetcher(name, concurrency, leaseUntil));
      if (worker === undefined) continue;
      // Asked for some tasks: those waiting go to the front of the line, and only that many are fetched.
      if (fronts !== undefined) room = Math.min(room, fronts.get(name) ?? 0);
      else if (request.ids !== undefined) room = Math.min(room, Number(await within(runScript(this.#store.client, 'takeFirst', [`${this.#store.keys.queueKey(name)}:wait`], request.ids))));
      if (room <= 0) continue;
      const fetchOne = async (): Promise<boolean> => {
        const token = `${owner}|${++this.#tokens}`;
        const job = await worker.getNextJob(token, { block: false });
        if (job !== undefined) fetched.add({ job, token, owner, queue: name });
        return job !== undefined;
      };
      // One fetch first: an empty line (an idle worker's every poll) costs one script, not one per free slot.
      // Every fetch settled before a failure is thrown: a job one of them fetched after another failed is given back too.
      if (await within(fetchOne()) && room > 1) await within(awaitEvery(Array.from({ length: room - 1 }, fetchOne)));
    }
  }

  /**
   * How many of `limit` each name's line gets when more is waiting than the
   * limit takes: the oldest first across the lines (runAt, then the order
   * added), so that a name with a backlog does not starve the others, as
   * filling the limit name by name would. Undefined when everything waiting
   * fits: each name then fetches what it has (its delayed jobs come due
   * included, which BullMQ's fetch promotes).
   */
  async #shares(names: readonly string[], limit: number): Promise<Map<string, number> | undefined> {
    const heads = await runScript(this.#store.client, 'heads', [], [limit, ...names.map((name) => `${this.#store.keys.queueKey(name)}:`)]) as number[][];
    if (heads.reduce((sum, line) => sum + line.length / 2, 0) <= limit) return undefined;
    const shares = new Map<string, number>();
    // Per line, the index of its next head's runAt (its order added follows it).
    const next = names.map(() => 0);
    const before = (i: number, j: number): boolean => {
      const [a, x, b, y] = [heads[i]!, next[i]!, heads[j]!, next[j]!];
      return a[x]! < b[y]! || (a[x] === b[y] && a[x + 1]! < b[y + 1]!);
    };
    for (let taken = 0; taken < limit; taken++) {
      let oldest = -1;
      for (let i = 0; i < heads.length; i++) if (next[i]! < heads[i]!.length && (oldest === -1 || before(i, oldest))) oldest = i;
      next[oldest]! += 2;
      shares.set(names[oldest]!, (shares.get(names[oldest]!) ?? 0) + 1);
    }
    return shares;
  }

  /**
   * The worker that fetches a name's jobs; none when the cap is 0. Its queue's cap (BullMQ's global concurrency) is
   * written as `concurrency` says, or removed when it says none, with every fetch: on the worker's connection, just
   * ahead of the fetch, in the same write. Written once and remembered, it was gone for good once Redis lost its
   * data (restarted without persistence), and stayed in Redis after the task stopped setting one.
   */
  async fetcher(name: string, concurrency: Readonly<Record<string, number>>, leaseUntil: number): Promise<Worker | undefined> {
    const cap = Object.hasOwn(concurrency, name) ? concurrency[name]! : undefined;
    if (cap === 0) return undefined;
    const worker = this.#bulls.worker(name);
    this.#bulls.checkStalls(worker, Math.max(1, leaseUntil - Date.now()));
    const client = await clientOf(worker);
    const meta = `${this.#store.keys.queueKey(name)}:meta`;
    // Not awaited: the fetch after it on this connection waits for it, and fails too if it does.
    void (cap === undefined ? client.hdel(meta, 'concurrency') : client.hset(meta, 'concurrency', cap)).catch(() => {});
    return worker;
  }

  /**
   * The jobs `fetch` moves to active (into the list it is given) claimed for `owner`: the claims' fields written and
   * the jobs' hashes and logs read back in one call, the tasks as stored, running. Until Redis has that bookkeeping,
   * a failure (the call's time run out among them) gives every fetched job back. `oldestFirst`: the tasks in the
   * order a claim takes them across names (runAt, then the order added), as each name's line already is.
   */
  async take(owner: string, leaseUntil: number, now: number, fetch: (fetched: Fetched<Claim>) => Promise<void>, oldestFirst: boolean, within: Within): Promise<StoredTask[]> {
    const client = this.#store.client;
    const fetched = new Fetched<Claim>();
    // The bookkeeping as sent: Redis runs it even once the call has given up on it.
    let bookkeeping: Promise<unknown> = Promise.resolve();
    let replies: (number | string[])[];
    try {
      // Each of its steps within the call's time (see fetch()).
      await fetch(fetched);
      if (fetched.jobs.length === 0) return [];
      within.check();
      const keys = fetched.jobs.flatMap(({ job, queue }) => {
        const key = this.#store.keys.jobKey(queue, job.id!);
        return [key, `${key}:logs`];
      });
      bookkeeping = runScript(client, 'claimed', keys, [owner, leaseUntil + this.#store.skew, now, ...fetched.jobs.map(({ token }) => token)]);
      replies = await within(bookkeeping) as typeof replies;
    } catch (error) {
      // Not awaited: on the workers' connections, which wait for Redis to return (the claim fails now). A job a fetch
      // still under way brings is given back when it comes; those the bookkeeping names once Redis has answered it (or
      // it failed): its count of a started attempt, written after the give-back's undo, charged the job a stall.
      fetched.cut((claim) => void this.#ends.putBack([claim]).catch(() => {}));
      const taken = fetched.jobs;
      void bookkeeping.catch(() => {}).then(() => this.#ends.putBack(taken)).catch(() => {});
      throw error;
    }
    // Tracked (and renewed by the heartbeat) only once Redis has the claim: a claim that failed is not kept alive
    // forever by this process.
    const claimed: StoredTask[] = [];
    const seqs = new Map<string, number>();
    // Stalled attempts and other programs' jobs, failed rather than run.
    const failing: Promise<void>[] = [];
    fetched.jobs.forEach((claim, i) => {
      const id = claim.job.id!;
      const hash = fromPairs(replies[i * 3 + 1] as string[]);
      // No data: its hash was gone, and BullMQ's fetch wrote a stub of its own fields (see dropGone()).
      if (hash.data === undefined) {
        failing.push(this.#ends.dropGone(claim));
        return;
      }
      // A job edited by hand must not stop every claim of its name: it fails for good, told by the next recover().
      const readable = readableJob(hash);
      if (readable !== undefined) {
        const error = { attempt: claim.job.attemptsMade + 1, message: `${owner} claimed it and could not read its job`, startedAt: now, finishedAt: now };
        failing.push(this.#ends.failUnreadable(claim, readable, error));
        return;
      }
      if (!isTaskData(claim.job.data)) {
        failing.push(this.#ends.refuseForeign(claim, now));
        return;
      }
      if (replies[i * 3] === 0) {
        failing.push(this.#ends.failStalled(claim, hash, now));
        return;
      }
      this.#claims.set(id, claim);
      this.#holds.delete(id);
      Object.assign(hash, { [FIELD.owner]: owner, [FIELD.lease]: String(leaseUntil), [FIELD.startedAt]: String(now) });
      claimed.push(toTask({ name: claim.queue, id, hash, logs: replies[i * 3 + 2] as string[], bullState: 'active', heldUntil: null })!);
      seqs.set(id, (claim.job.data as JobData).seq);
    });
    if (oldestFirst) claimed.sort((a, b) => a.runAt - b.runAt || seqs.get(a.id)! - seqs.get(b.id)!);
    // A stalled attempt not failed by the call's deadline is still being failed (the claimed tasks are this call's to
    // return); one not failed at all (Redis away) is failed when its job, whose lock runs out, is next claimed.
    const unavailable = (error: unknown): void => {
      if (!isUnavailable(error)) throw error;
    };
    await within(Promise.all(failing.map((each) => each.catch(unavailable)))).catch(unavailable);
    return claimed;
  }
}
