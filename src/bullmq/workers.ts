import type { Job, MinimalJob, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { retryDelay } from '../durable/backoff.js';
import { workerConnection } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import { queueName, type JobData } from './jobs.js';
import type { RedisConnection } from './options.js';
import { defineScripts } from './scripts.js';
import { screenFetches } from './unreadable.js';

/**
 * How long a fetched job is locked before its claim writes its lease, and a lapsed job by a recovery given no lease of
 * its own (see recover()) while it fails the stalled attempt.
 */
export const RECOVERY_LOCK_MS = 30_000;

/**
 * A store's BullMQ queues and workers, one of each per task name, made as
 * first needed: the queue adds and reads on the store's connection, the
 * worker fetches, completes and fails on its own.
 */
export class Workers {
  readonly #store: StoreHandle;
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  /** The workers whose stall check is started: those that have fetched (see checkStalls()). */
  readonly #checking = new WeakSet<Worker>();
  /** When the runner wants a failed attempt retried: read by the backoff strategy BullMQ calls. */
  readonly #retryAts = new Map<string, number>();
  /** Jobs BullMQ's stalled checks moved back to waiting since recover() last reported. */
  #stalled = 0;

  constructor(store: StoreHandle, connection: RedisConnection, prefix: string, timeoutMs: number) {
    this.#store = store;
    this.#connection = connection;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
  }

  /** The BullMQ queue of a name's tasks, on the store's connection: its adds, look-ups and removals. */
  queue(name: string): Queue {
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new this.#store.bull.Queue(queueName(name), { connection: this.#store.client, prefix: this.#prefix, skipVersionCheck: true });
      queue.on('error', () => {});
      this.#queues.set(name, queue);
    }
    return queue;
  }

  /** The BullMQ worker of a name's queue: its fetches, completions and failures (a recovery's too). */
  worker(name: string): Worker {
    let worker = this.#workers.get(name);
    if (worker === undefined) {
      // Its lock and stall check are set by the first fetch (see checkStalls()): a recovery needs neither.
      worker = new this.#store.bull.Worker(queueName(name), undefined, {
        connection: workerConnection(this.#connection, this.#timeoutMs), prefix: this.#prefix, autorun: false, lockDuration: RECOVERY_LOCK_MS,
        // Checked once, at open (see checkVersion): BullMQ's own check, an INFO as each connection opens, failed for
        // good on one timeout (a Redis frozen as the worker's connection opened), and every claim with it.
        skipVersionCheck: true,
        // Stalls are counted as attempts when the job is next claimed, not failed by BullMQ's own count.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        settings: { backoffStrategy: (made: number, _type?: string, _error?: Error, job?: MinimalJob) => this.#retryDelay(made, job) },
      });
      worker.on('error', () => {});
      worker.on('stalled', () => void this.#stalled++);
      screenFetches(worker);
      // Coda's scripts on the worker's connection too: a give-back runs there (see BullmqStore's putBack).
      void clientOf(worker).then(defineScripts, () => {});
      this.#workers.set(name, worker);
    }
    return worker;
  }

  /** The worker of a name a claim was fetched by: made by then. */
  fetchedBy(name: string): Worker {
    return this.#workers.get(name)!;
  }

  /**
   * At a name's first fetch, BullMQ's lock on the jobs fetched lasts the claim's lease, and its check for jobs whose
   * lock ran out (fetched, never claimed: a claim cut midway) starts, every half lease: only where jobs are fetched.
   * Started by a recovery (a web process that runs no task, finding a dead worker's), the check ran every 15 s, and
   * its mark, which every process's check heeds, held off the workers' own checks for 15 s at a time.
   */
  checkStalls(worker: Worker, leaseMs: number): void {
    if (this.#checking.has(worker)) return;
    this.#checking.add(worker);
    // BullMQ reads both options at each fetch and each check.
    Object.assign(worker.opts, { lockDuration: leaseMs, stalledInterval: Math.max(1, Math.floor(leaseMs / 2)) });
    void worker.startStalledCheckTimer().catch(() => {});
  }

  /** The runner's `retryAt` for a job's failed attempt, told to BullMQ's backoff while the job is moved (see retryDelay()). */
  retryAt(id: string, at: number): void {
    this.#retryAts.set(id, at);
  }

  /** A job's `retryAt` forgotten once its move is done. */
  forgetRetry(id: string): void {
    this.#retryAts.delete(id);
  }

  /** BullMQ's backoff for a Coda job: the runner's `retryAt`, or else the task's own backoff. */
  #retryDelay(made: number, job: MinimalJob | undefined): number {
    const retryAt = job?.id === undefined ? undefined : this.#retryAts.get(job.id);
    if (retryAt !== undefined) return Math.max(0, retryAt - Date.now());
    const data = job?.data as JobData | undefined;
    return data === undefined ? 0 : retryDelay(data.backoff, made, Math.random);
  }

  /** How many jobs BullMQ's stalled checks moved back to waiting since the last call. */
  takeStalled(): number {
    const stalled = this.#stalled;
    this.#stalled = 0;
    return stalled;
  }

  /**
   * A job of `queue` by its id, not read from Redis: BullMQ's getJob() parses its data and opts, and threw on a job
   * edited by hand (retry() and discard() need only its id). With a `hash`, its data and opts parsed, its attempts
   * made as it says.
   */
  jobOf(queue: Queue | Worker, id: string, hash?: Record<string, string>): Job {
    const job = new this.#store.bull.Job(queue as never, hash?.name ?? '', hash === undefined ? {} : JSON.parse(hash.data!), hash === undefined ? {} : JSON.parse(hash.opts ?? '{}'), id);
    job.attemptsMade = Number(hash?.atm ?? 0);
    return job;
  }

  /** Every worker and queue, let go of (the store closes them): the next made anew. */
  clear(): (Worker | Queue)[] {
    const bull = [...this.#workers.values(), ...this.#queues.values()];
    this.#workers.clear();
    this.#queues.clear();
    return bull;
  }
}

/** BullMQ, or an error that says how to install it (it is an optional peer dependency). */
export async function loadBullmq(): Promise<typeof import('bullmq')> {
  try {
    return await import('bullmq');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error('bullmqStore() needs the bullmq and ioredis packages: npm install bullmq ioredis', { cause: error });
  }
}

/** A worker's own connection: BullMQ's Redis backend's client is an ioredis client (typed as its backend interface). */
export const clientOf = (worker: Worker): Promise<Redis> => worker.backend.client as unknown as Promise<Redis>;
