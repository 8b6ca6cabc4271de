import type { Job, JobJson } from 'bullmq';
import { retryDelay } from '../durable/backoff.js';
import type { AttemptError } from '../durable/store.js';
import { isUnavailable } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import { FIELD, type JobData } from './jobs.js';
import { reindex } from './listing.js';
import { runScript } from './scripts.js';
import { badFields, type ReadableJob } from './unreadable.js';
import { clientOf, type Workers } from './workers.js';

/** A task this process claimed: its job (with the lock's token) and its owner. */
export interface Claim {
  job: Job;
  token: string;
  owner: string;
  queue: string;
  /** The failed attempt's error is in the job's log: a failure written again does not log it twice. */
  logged?: boolean;
}

/** At most this many ids of refused ends whose job was gone are kept for whyRefused() (which the runner asks at once). */
const GONE_NOTED = 1_000;

/**
 * The ends of the jobs a store claimed: completed, failed (retried or for
 * good: stalled, unreadable, another program's), or given back to waiting;
 * each claim let go of once written. Keeps what the store tells of them
 * later: the ids whose job had gone with Redis's data (whyRefused()) and the
 * unreadable jobs failed (recover()).
 */
export class JobEnds {
  readonly #store: StoreHandle;
  readonly #bulls: Workers;
  /** The store's claims, by id: an end deletes its own. */
  readonly #claims: Map<string, Claim>;
  /** Ids whose end was refused because their job was gone from Redis (flushed, restarted empty): told once by whyRefused(). */
  readonly #gone = new Set<string>();
  /** Jobs failed for good since recover() last reported, their fields not read (see readableJob()): reported, to be logged, once. */
  #unreadable: { id: string; reason: string }[] = [];

  constructor(store: StoreHandle, bulls: Workers, claims: Map<string, Claim>) {
    this.#store = store;
    this.#bulls = bulls;
    this.#claims = claims;
  }

  /**
   * A job another program put in a task's queue (BullMQ's own Queue.add), without the data Coda writes: it cannot
   * run as the task. Failed for good at once, saying so, and its name counted among the store's, so that stats()
   * and list() show it (it failed on a payload that "no longer parses", under its job's name, and only where Coda
   * had added a task of that name).
   */
  async refuseForeign(claim: Claim, now: number): Promise<void> {
    const { job, queue } = claim;
    const message = `not a Coda task: job ${JSON.stringify(job.name)} (id ${JSON.stringify(job.id)}) was put in the queue of task ${queue} by another program (BullMQ's own Queue.add?) without the data that after() and app.tasks.enqueue() write; refused, and kept as failed: discard it`;
    await Promise.all([
      this.failJob(claim, { attempt: job.attemptsMade + 1, message, startedAt: now, finishedAt: now }, null),
      this.#store.client.sadd(this.#store.keys.namesKey(), queue),
    ]);
  }

  /**
   * BullMQ moves a job whose worker died back to waiting without counting an
   * attempt (bullmq issue #651): Coda's count of started attempts then
   * exceeds BullMQ's ended ones (see the claim's script). That attempt is
   * failed, with a "stalled:" error, through BullMQ's retry and backoff, and
   * the job is not run by this claim; failed for good when its own claim had
   * logged its failure for good (a NonRetryableError) before its process
   * died: judged by the count alone, that task was run again.
   */
  async failStalled(claim: Claim, hash: Record<string, string>, now: number, random: () => number = Math.random): Promise<void> {
    const { job } = claim;
    const error = this.stalledError(job, hash, now);
    const token = hash[FIELD.token];
    const final = error.attempt >= (job.opts.attempts ?? 1) || (token !== undefined && hash[FIELD.loggedFinal] === token);
    await this.failJob(claim, error, final ? null : now + retryDelay((job.data as JobData).backoff, error.attempt, random));
  }

  /** The error of a job's attempt whose process stopped renewing its lock (its hash as read: owner, lease, start). */
  stalledError(job: Job, hash: Record<string, string>, now: number): AttemptError {
    const owner = hash[FIELD.owner];
    const lease = hash[FIELD.lease];
    return {
      attempt: job.attemptsMade + 1,
      message: `stalled: ${owner ?? 'a worker'} stopped renewing its lock${lease === undefined ? '' : `, which ended at ${new Date(Number(lease) - this.#store.skew).toISOString()}`} (its process died or hung)`,
      startedAt: hash[FIELD.startedAt] === undefined ? null : Number(hash[FIELD.startedAt]),
      finishedAt: now,
    };
  }

  /**
   * Fails for good a claim's job whose fields do not read (see readableJob()), its attempt's `error` followed by the
   * reason; each bad field is replaced in the same write, its text kept in the error, so that the job reads again
   * (BullMQ's tools, get, list, `coda tasks retry`). The next recover() reports the reason, to be logged once.
   */
  async failUnreadable(claim: Claim, readable: ReadableJob, error: AttemptError): Promise<void> {
    const id = claim.job.id!;
    const reason = `durable task ${id} (job ${this.#store.keys.jobKey(claim.queue, id)}) in the ${this.#store.description} failed for good, not retried: ${badFields(readable, 'replaced')}`;
    if (await this.failJob(claim, { ...error, message: `${error.message}; ${reason}` }, null, readable.fields)) this.#unreadable.push({ id, reason });
  }

  /**
   * Removes a claim's job whose hash was gone from Redis while its id still waited (see the script): nothing to run,
   * and failed, its stub hash was kept for ever, counted failed yet listed nowhere, told to be discarded though
   * discard() could not find it. The next recover() reports it, to be logged once.
   */
  async dropGone(claim: Claim): Promise<void> {
    const { job, token, queue } = claim;
    const id = job.id!;
    const key = this.#store.keys.jobKey(queue, id);
    const q = this.#store.keys.queueKey(queue);
    if (await runScript(this.#store.client, 'dropGone', [key, `${key}:logs`, `${key}:lock`, `${q}:active`, `${q}:stalled`], [token, id]) === 0) return;
    this.#unreadable.push({ id, reason: `durable task ${id} (job ${key}) in the ${this.#store.description}: its job's hash was gone from Redis (evicted, or deleted by hand) while its id was still in the queue's waiting list: nothing left to run or keep; its id removed` });
  }

  /**
   * Completes a claim's job and, with `fetchNext`, fetches its queue's next waiting job in the same script, locked by
   * the same token; returns that job, if any, or GONE when the job was no longer this claim's (nothing written).
   */
  async completeJob({ job, token, queue }: Claim, now: number, fetchNext: boolean): Promise<Job | undefined | typeof GONE> {
    // The finish time is written by BullMQ's own completion script (its fields to update), once it has checked the
    // lock: a job whose lock was lost (another worker took it after a stall, or removed it) is left as it is.
    const worker = this.#bulls.fetchedBy(queue);
    const backend = worker.backend as unknown as FinishingBackend;
    const args = backend.moveToFinishedArgs(job, '""', 'returnvalue', job.opts.removeOnComplete, 'completed', token, Date.now(), fetchNext, { [FIELD.finishedAt]: now });
    const next = await orGone(backend.moveToFinished(job.id!, args));
    this.#claims.delete(job.id!);
    if (next === undefined) {
      await this.#noteIfGone(queue, job.id!);
      return GONE;
    }
    // No job next: nothing waiting (undefined), or BullMQ's word that the next is delayed (null, its time beside it).
    const [data, id] = next as [JobJson | null | undefined, string?];
    return data == null ? undefined : this.#store.bull.Job.fromJSON(worker as never, data, id);
  }

  /**
   * Keeps the attempt's error in the job's log and lets BullMQ retry it (at `retryAt`) or fail it for good; false
   * when the job was no longer this claim's.
   */
  async failJob(claim: Claim, error: AttemptError, retryAt: number | null, fields: Record<string, string> = {}): Promise<boolean> {
    const { job, token, queue } = claim;
    const id = job.id!;
    const client = this.#store.client;
    const { attempt, message, stack, startedAt, finishedAt } = error;
    if (claim.logged !== true) {
      const line = JSON.stringify({ attempt, message, ...(stack === undefined ? {} : { stack }), startedAt, finishedAt });
      const key = this.#store.keys.jobKey(queue, id);
      const field = retryAt === null ? [FIELD.finishedAt, error.finishedAt] : [FIELD.runAt, retryAt];
      // A failure for good has its failed index's entry written with its line (see the script).
      const entry = retryAt === null ? [`${this.#store.keys.queueKey(queue)}:`, id] : ['', ''];
      const keys = [key, `${key}:logs`, `${key}:lock`, this.#store.keys.failedKeys(queue)[1]];
      // Lock lost (another worker took the job after a stall, or it was removed): nothing is written, nor failed.
      if (await runScript(client, 'logFailure', keys, [token, line, ...entry, ...field, ...Object.entries(fields).flat()]) === 0) {
        this.#claims.delete(id);
        await this.#noteIfGone(queue, id);
        return false;
      }
      claim.logged = true;
    }
    const failure = retryAt === null ? new this.#store.bull.UnrecoverableError(message) : new Error(message);
    if (stack !== undefined) failure.stack = stack;
    if (retryAt !== null) this.#bulls.retryAt(id, retryAt);
    const delayed = retryAt !== null && retryAt > Date.now();
    try {
      await ignoreGone(job.moveToFailed(failure, token, false));
    } finally {
      this.#bulls.forgetRetry(id);
    }
    if (delayed) await runScript(client, 'pinDelay', [`${this.#store.keys.queueKey(queue)}:delayed`], [id, retryAt]);
    else await reindex(client, this.#store.keys, queue, id, 'sync');
    // Kept until written, as a completion is.
    this.#claims.delete(id);
    return true;
  }

  /** Why an end of `id` was refused, when its job went with Redis's data (see noteIfGone()): told once. */
  whyRefused(id: string): string | undefined {
    if (!this.#gone.delete(id)) return undefined;
    return `its job is no longer in Redis (${this.#store.description}): Redis was flushed or restarted without its data (the key ${this.#store.keys.epochKey()} is no longer as this store found it when it opened), and the task, gone with it, will not run again`;
  }

  /**
   * A refused end whose job is gone with the epoch key this store found at open (FLUSHALL, a Redis restarted empty)
   * is noted for whyRefused(), which the runner asks at once; at most GONE_NOTED are kept, the oldest let go. A job
   * gone alone was removed after its lease ran out and another process ran it: the runner's lost-lease words.
   */
  async #noteIfGone(queue: string, id: string): Promise<void> {
    const client = this.#store.client;
    const [job, epoch] = await Promise.all([client.exists(this.#store.keys.jobKey(queue, id)), client.get(this.#store.keys.epochKey())]).catch(() => [1, null]);
    if (job !== 0 || epoch === this.#store.epoch) return;
    this.#gone.add(id);
    for (const old of this.#gone) {
      if (this.#gone.size <= GONE_NOTED) break;
      this.#gone.delete(old);
    }
  }

  /**
   * Claims' jobs back to waiting, on their workers' connections, each
   * claim's count of a started attempt undone first (in order on the same
   * connection): an attempt given back never ran. A job whose lock ran out
   * meanwhile was BullMQ's stalled job, and its count is still undone.
   */
  async putBack(claims: readonly Claim[]): Promise<void> {
    await Promise.all(claims.map(async ({ job, token, queue }) => {
      const client = await clientOf(this.#bulls.fetchedBy(queue));
      await Promise.all([runScript(client, 'unclaim', [this.#store.keys.jobKey(queue, job.id!)], [token]), ignoreGone(job.moveToWait(token))]);
    }));
  }

  /** The unreadable jobs failed for good since the last call (see failUnreadable()). */
  takeUnreadable(): { id: string; reason: string }[] {
    return this.#unreadable.splice(0);
  }

  /** The ids noted for whyRefused() let go of (the store closes). */
  forgetGone(): void {
    this.#gone.clear();
  }
}

/** A job's end that found it no longer the claim's (another process took it, or it was removed): nothing written. */
export const GONE = Symbol('gone');

/**
 * A BullMQ call on a job that is no longer where the call expects it (lock
 * lost, already promoted, removed): false, as a store call on a task in
 * another state changes nothing. Connection failures still throw.
 */
export async function ignoreGone(call: Promise<unknown>): Promise<boolean> {
  return (await orGone(call.then(() => true))) ?? false;
}

/** As ignoreGone, with the call's result, or undefined when the job was gone. */
async function orGone<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (isUnavailable(error)) throw error;
    return undefined;
  }
}

/**
 * BullMQ's completion as its Job.moveToCompleted runs it, with the fields to update that its moveToFailed alone
 * passes (written by the script after it checks the lock): moveToFinishedArgs is protected in BullMQ's types.
 */
interface FinishingBackend {
  moveToFinishedArgs(job: Job, value: string, property: 'returnvalue', keep: unknown, target: 'completed', token: string, timestamp: number, fetchNext: boolean, fields: Record<string, number>): unknown[];
  moveToFinished(id: string, args: unknown[]): Promise<unknown>;
}
