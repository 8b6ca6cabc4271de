import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe } from '../util/describe.js';
import { checkCount, checkKeys, checkMs } from '../util/options.js';
import { checkAttemptError, checkClaim, checkListFilter, checkNewTasks, checkOwner, checkReleaseClaim, checkReleases, checkTime } from '../durable/checks.js';
import { outcomeJson } from '../durable/outcome-json.js';
import { StoreUnavailable } from '../durable/errors.js';
import { untilDeadline } from '../util/deadline.js';
import type {
  AddResult, AttemptError, ClaimRequest, CompletedAndClaimed, ListFilter, NewTask, Recovered, Release, Released, ReleaseClaim, StoredTask, StoreStats, TaskPage, TaskStore,
} from '../durable/store.js';
import { READY_CHUNK, Registrar } from './adding.js';
import { Claimer, type Hold } from './claiming.js';
import { callDeadline, checkCluster, checkConnection, checkVersion, COMMAND_TIMEOUT_MS, connect, evictionWarning, isUnavailable, unavailableReason, type Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import { GONE, ignoreGone, JobEnds, type Claim } from './ends.js';
import type { KeepCompleted } from './jobs.js';
import { Keys } from './keys.js';
import { countByName, emptyCounts, listPage, parseCursor, reindex } from './listing.js';
import type { BullmqStoreOptions, RedisConnection } from './options.js';
import { findTask, readTasks } from './read.js';
import { Recovery } from './recovery.js';
import { runScript } from './scripts.js';
import { awaitEvery } from '../util/await-every.js';
import { Undos } from './undo.js';
import { loadBullmq, RECOVERY_LOCK_MS, Workers } from './workers.js';

/**
 * A durable task store on BullMQ and Redis: one BullMQ queue per task name
 * (`<prefix>:<name>`), one job per task. Registration adds a turn's jobs
 * in one or two round trips (the connections are auto-pipelined); a held task
 * is its job's hash among its queue's holds (scored by its lease), in none of
 * BullMQ's lists until its release, or, if its process dies, until a sweep
 * (`recover()`) finds its lease run out and moves it into BullMQ;
 * claims, locks, retries with backoff, the failed set, stalled jobs,
 * deduplication (`key`) and pruning (`removeOnComplete`) are BullMQ's own.
 * Workers run anywhere: `runWorker({ definitions, store: bullmqStore(...) })`.
 * See docs/bullmq.md.
 *
 * @example
 * ```ts
 * import { bullmqStore } from 'coda-http/bullmq';
 * const store = bullmqStore({ connection: { host: 'redis.internal', port: 6379 }, prefix: 'shop' });
 * const app = createApp({ routes, tasks: { definitions: [sendWelcome], store, run: false } });
 * ```
 */
export function bullmqStore(options: BullmqStoreOptions = {}): TaskStore {
  return new BullmqStore(options);
}

const HOUR = 60 * 60_000;
/** At most this many holds renewed by one ZADD (each a score and an id: twice as many arguments). */
const RENEW_CHUNK = 10_000;
/**
 * How long completions written by a call that then failed are kept for the call that writes them again: longer
 * than the runner writes a refused end again (about a minute, WRITE_RETRIES), after which it gives up on them.
 */
const UNREPORTED_MS = 3 * 60_000;

export class BullmqStore implements TaskStore {
  readonly description: string;
  readonly #connection: RedisConnection;
  readonly #address: string;
  readonly #prefix: string;
  readonly #keys: Keys;
  /** What the store's pieces read of it (see StoreHandle). */
  readonly #handle: StoreHandle;
  readonly #keepCompleted: KeepCompleted;
  readonly #timeoutMs: number;
  #bull: typeof import('bullmq') | undefined;
  #client: Redis | undefined;
  #undos: Undos | undefined;
  /** The store's pieces, each given the store's handle and the state it acts on (see their files). */
  readonly #bulls: Workers;
  readonly #ends: JobEnds;
  readonly #recovery: Recovery;
  readonly #claimer: Claimer;
  readonly #registrar: Registrar;
  readonly #claims = new Map<string, Claim>();
  readonly #holds = new Map<string, Hold>();
  /**
   * Completions Redis took in a call that failed after them, by id, with their owner and until when they are kept:
   * the next call naming them reports them (see #completing).
   */
  readonly #unreported = new Map<string, { owner: string; until: number }>();
  /**
   * The value of the prefix's epoch key found at open (written there by the first store to open): gone or another,
   * Redis lost its data since; the same, a job gone was removed (completed and pruned, or discarded) after another
   * process took its task over.
   */
  #epoch: string | null = null;
  /**
   * What to add to this process's time to get Redis's, in whole seconds: leases are kept on Redis's clock, since
   * one process judges another's lease and machines' clocks differ (a web process's clock behind a worker's by
   * more than a lease had its holds recovered, and run, before their responses were done). Whole seconds, so
   * that processes whose clocks agree keep a lease exactly as given. Measured at open and at each recovery.
   */
  #skew = 0;
  /** What open() found that puts tasks at risk (see warnings()). */
  #warnings: string[] = [];

  constructor(options: BullmqStoreOptions) {
    checkKeys('bullmqStore()', options, ['connection', 'prefix', 'keepCompleted', 'commandTimeoutMs']);
    const { options: connection, address } = checkConnection(options.connection ?? {});
    const prefix = options.prefix ?? 'coda';
    if (typeof prefix !== 'string' || !/^[\w.@/{}-]{1,100}$/.test(prefix)) {
      throw new TypeError(`bullmqStore(): prefix must be 1 to 100 letters, digits or _ . @ / - { } (no ':'), got ${describe(prefix)}`);
    }
    const keep = options.keepCompleted ?? {};
    checkKeys('bullmqStore() keepCompleted', keep, ['count', 'ageMs']);
    this.#keepCompleted = {
      count: checkCount('bullmqStore(): keepCompleted.count', keep.count ?? 1000, 0),
      age: Math.ceil(checkMs('bullmqStore(): keepCompleted.ageMs', keep.ageMs ?? HOUR) / 1000),
    };
    this.#timeoutMs = checkMs('bullmqStore(): commandTimeoutMs', options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS);
    this.#connection = connection;
    this.#address = address;
    this.#prefix = prefix;
    this.#keys = new Keys(prefix);
    this.description = `bullmq store ${address} (prefix ${prefix})`;
    const store = this;
    this.#handle = {
      get client() {
        return store.#client!;
      },
      keys: this.#keys,
      description: this.description,
      get skew() {
        return store.#skew;
      },
      get bull() {
        return store.#bull!;
      },
      get epoch() {
        return store.#epoch;
      },
    };
    this.#bulls = new Workers(this.#handle, connection, prefix, this.#timeoutMs);
    this.#ends = new JobEnds(this.#handle, this.#bulls, this.#claims);
    this.#recovery = new Recovery(this.#handle, this.#bulls, this.#ends);
    this.#claimer = new Claimer(this.#handle, this.#bulls, this.#ends, this.#claims, this.#holds);
    this.#registrar = new Registrar(this.#handle, this.#bulls, this.#holds, this.#keepCompleted, () => this.#undos!);
  }

  async open(): Promise<void> {
    if (this.#client !== undefined) return;
    // Loaded when a store opens: users of the SQLite store never load BullMQ.
    this.#bull = await loadBullmq();
    const client = await connect(this.#connection, this.#address, this.description, this.#timeoutMs);
    try {
      await this.#call(() => this.#measureSkew(client));
      await this.#call(() => checkCluster(client, this.#prefix, this.#address));
      const old = await this.#call(() => checkVersion(client, this.#address, this.#bull!.RedisConnection));
      const eviction = await this.#call(() => evictionWarning(client, this.#address));
      this.#warnings = [old, eviction].filter((warning) => warning !== undefined);
      this.#epoch = await this.#call(async () => {
        // A Redis that refuses the write (full: OOM) still opens, its workers to drain it: a job gone is then told
        // in the lost-lease words, never blamed on a flush it cannot tell.
        await client.set(this.#keys.epochKey(), randomUUID(), 'NX').catch((error: unknown) => {
          if ((error as Error).name !== 'ReplyError') throw error;
        });
        return client.get(this.#keys.epochKey());
      });
    } catch (error) {
      client.disconnect();
      throw error;
    }
    this.#client = client;
    this.#undos = new Undos(client, this.#prefix);
  }

  /** Sets #skew from Redis's TIME, against the middle of the round trip. */
  async #measureSkew(client: Redis): Promise<void> {
    const before = Date.now();
    const [seconds, micros] = await client.time();
    const redisNow = Number(seconds) * 1000 + Number(micros) / 1000;
    this.#skew = Math.round((redisNow - (before + Date.now()) / 2) / 1000) * 1000;
  }

  async add(tasks: readonly NewTask[], owner: string, leaseUntil: number): Promise<AddResult[]> {
    checkNewTasks(tasks);
    checkOwner('add()', owner);
    checkTime('add(): leaseUntil', leaseUntil);
    if (tasks.length === 0) return [];
    const client = this.#opened();
    const ids = new Set<string>();
    for (const { id } of tasks) {
      if (ids.has(id)) throw new Error(`${this.description}: add(): the batch has the id ${JSON.stringify(id)} twice`);
      ids.add(id);
    }
    const token = randomUUID();
    // A flood of ready tasks (a burst of enqueues in one turn) is added in chunks one after another: a timeout each.
    const chunks = Math.max(1, Math.ceil(tasks.reduce((n, task) => n + (task.held ? 0 : 1), 0) / READY_CHUNK));
    const why = chunks === 1 ? undefined : `the store's commandTimeoutMs for each of its ${chunks} chunks of at most ${READY_CHUNK} ready tasks`;
    // Step by step: the registration's own failure says whether it is kept to undo (see Registrar's undoneIfLost).
    return this.#stepwise('add()', (within) => this.#registrar.register(client, tasks, owner, leaseUntil, token, within), chunks, why);
  }

  /**
   * Releases, the due tasks the claim asks for put at the front of their lines in the same script; then claims that
   * many of each name (Redis has no transaction across BullMQ's scripts).
   */
  async release(releases: readonly Release[], owner: string, claim?: ReleaseClaim): Promise<Released> {
    checkReleases(releases);
    checkReleaseClaim(claim);
    const { released, front, lost } = await this.#release(releases, owner, claim);
    const gone = lost.length === 0 ? {} : { lost };
    if (front.length === 0) return { ready: released, claimed: [], ...gone };
    // Only the front tasks' names: each name claimed from is a BullMQ worker (a connection of its own).
    const fronts = new Map<string, number>();
    for (const { name } of front) fronts.set(name, (fronts.get(name) ?? 0) + 1);
    // The holds are released already: a claim Redis refuses leaves them ready, for the runner's own claim, rather than failing the release.
    const claimed = await this.#claim({ ...claim!, names: claim!.names.filter((name) => fronts.has(name)), owner }, fronts).catch((error: unknown) => {
      if (error instanceof StoreUnavailable) return [];
      throw error;
    });
    const taken = new Set(claimed.map(({ id }) => id));
    return { ready: released.filter((id) => !taken.has(id)), claimed, ...gone };
  }

  /**
   * Ends `owner`'s holds among the releases in one script: the ids released to run, and those put at the front
   * of their lines for `claim` (due by its `now`, of its names, at most its limit, in the order of the releases).
   */
  async #release(releases: readonly Release[], owner: string, claim: ReleaseClaim | undefined): Promise<{ released: string[]; front: { id: string; name: string }[]; lost: string[] }> {
    const client = this.#opened();
    // The hold stays this process's (renewed by its heartbeat) until Redis has taken the release: a release
    // that fails is written again (the journal's retry), never left to run out with its outcome unknown.
    const mine = releases.flatMap((release) => {
      const hold = this.#holds.get(release.id);
      return hold === undefined || hold.owner !== owner ? [] : [{ ...release, ...hold }];
    });
    if (mine.length === 0) return { released: [], front: [], lost: [] };
    const wanted = claim === undefined ? [] : mine.filter(({ run, runAt, name }) => run && runAt <= claim.now && claim.names.includes(name)).slice(0, claim.limit);
    const fronts = new Set(wanted);
    // BullMQ takes the last pushed first: the front ones pushed last to first, so that the first release is taken first.
    const ordered = [...mine.filter((release) => !fronts.has(release)), ...[...wanted].reverse()];
    // Due by the claim's time when it is ahead of this clock (a clock a test moves), else by this one.
    const now = Math.max(Date.now(), claim?.now ?? 0);
    const [released, front, lost] = await this.#call(() => this.#endHolds(client, ordered.map((release) => ({
      ...release, how: !release.run ? 'skip' : fronts.has(release) ? 'front' : 'run', outcome: outcomeJson(release.outcome),
    })), now));
    for (const { id } of mine) this.#holds.delete(id);
    const ran = new Set(released);
    const names = new Map(mine.map(({ id, name }) => [id, name]));
    return { released: mine.filter(({ id }) => ran.has(id)).map(({ id }) => id), front: front.map((id) => ({ id, name: names.get(id)! })), lost };
  }

  /** Holds ended in one script (see its comment). Returns the ids released to run, those at the front of their lines, and those lost. */
  async #endHolds(client: Redis, holds: readonly { id: string; name: string; key: string | null; how: 'skip' | 'run' | 'front'; runAt: number; outcome: string }[], now = Date.now()): Promise<[string[], string[], string[]]> {
    const args = holds.flatMap(({ id, name, key, how, runAt, outcome }) => [`${this.#keys.queueKey(name)}:`, name, id, how, runAt, outcome, key ?? '']);
    return await runScript(client, 'release', [], [now, ...args]) as [string[], string[], string[]];
  }

  claim(request: ClaimRequest): Promise<StoredTask[]> {
    return this.#claim(request);
  }

  /** A claim; `fronts` (a release's claim) says how many tasks of each name its release put at the front of their lines. */
  async #claim(request: ClaimRequest, fronts?: ReadonlyMap<string, number>): Promise<StoredTask[]> {
    const { owner, names, concurrency, limit, now, leaseUntil } = request;
    checkOwner('claim()', owner);
    checkTime('claim(): now', now);
    checkTime('claim(): leaseUntil', leaseUntil);
    checkClaim(limit, concurrency);
    if (limit === 0 || names.length === 0 || request.ids?.length === 0) return [];
    this.#opened();
    return this.#claiming('claim()', names, async (within) => {
      await within(this.#claimer.promote(names, now));
      // A release's claim keeps the releases' order; any other, oldest first across names (each name's line is).
      return this.#claimer.take(owner, leaseUntil, now, (fetched) => this.#claimer.fetch(request, fetched, within, fronts), fronts === undefined, within);
    });
  }

  /**
   * A claim's call (`call`, as `'claim()'`), its promotion, fetches and bookkeeping within one deadline: commandTimeoutMs
   * from now, once per name, which it fetches one after another (a round trip or two each); step by step (see
   * #stepwise): Claimer.take() stops it, and gives back what it fetched.
   */
  async #claiming<T>(call: string, names: readonly string[], work: (within: Within) => Promise<T>): Promise<T> {
    const why = names.length <= 1 ? undefined : `the store's commandTimeoutMs for each of its ${names.length} task names, fetched one after another`;
    return this.#stepwise(call, work, Math.max(1, names.length), why);
  }

  async heartbeat(owner: string, leaseUntil: number, ids: readonly string[]): Promise<void> {
    checkTime('heartbeat(): leaseUntil', leaseUntil);
    const client = this.#opened();
    const duration = Math.max(1, leaseUntil - Date.now());
    const lease = leaseUntil + this.#skew;
    await this.#call(async () => {
      const renewals: Promise<unknown>[] = [];
      const keys: string[] = [];
      const claims: string[] = [];
      const holds = new Map<string, (string | number)[]>();
      for (const id of ids) {
        const hold = this.#holds.get(id);
        const claim = this.#claims.get(id);
        if (claim?.owner === owner) {
          keys.push(this.#keys.jobKey(claim.queue, id));
          claims.push(id, claim.token);
        } else if (hold?.owner === owner) {
          const pairs = holds.get(hold.name);
          if (pairs === undefined) holds.set(hold.name, [lease, id]);
          else pairs.push(lease, id);
        }
      }
      if (keys.length > 0) renewals.push(runScript(client, 'renew', keys, [lease, duration, ...claims]));
      // A hold's lease is its score among the holds: a ZADD per name and chunk, XX so that a hold recovered or released
      // meanwhile stays gone. In chunks: a name's every pair spread as one call's arguments passed the engine's limit
      // (a RangeError, the heartbeat lost) at some 62,000 holds.
      for (const [name, pairs] of holds) {
        for (let from = 0; from < pairs.length; from += RENEW_CHUNK * 2) {
          renewals.push(client.zadd(this.#keys.heldKey(name), 'XX', ...pairs.slice(from, from + RENEW_CHUNK * 2)));
        }
      }
      await Promise.all(renewals);
    });
  }

  async complete(ids: readonly string[], owner: string, now: number): Promise<string[]> {
    this.#opened();
    // Kept (the heartbeat renews them) until each is written: the runner writes a refused completion again.
    const mine = this.#owned(ids, owner);
    return this.#completing(ids, owner, now, async (completed) => {
      if (mine.length === 0) return;
      await this.#call(async () => awaitEvery(mine.map(async (claim) => {
        if (await this.#ends.completeJob(claim, now, false) !== GONE) completed.push(claim.job.id!);
      })));
    });
  }

  /**
   * Runs a call at `now` that completes `owner`'s tasks among `ids`, `write` pushing each completion Redis took into the list
   * it is given; resolves with those ids, in the order of `ids`. Reported with them: those of `ids` that an earlier
   * call completed before it failed (another completion refused, or the claim after them). The runner writes such a
   * call again, and the completions it had written no longer find their claims: they were told as refused (a
   * warning that they were not recorded, and no completion counted). Should this call fail too, all of them are
   * kept for the next.
   */
  async #completing(ids: readonly string[], owner: string, now: number, write: (completed: string[]) => Promise<void>): Promise<string[]> {
    // Those the runner gave up writing again (by the calls' own time) are let go: they were kept until the store closed.
    for (const [id, { until }] of this.#unreported) {
      if (until > now) break;
      this.#unreported.delete(id);
    }
    const completed = ids.filter((id) => this.#unreported.get(id)?.owner === owner);
    for (const id of completed) this.#unreported.delete(id);
    try {
      await write(completed);
    } catch (error) {
      for (const id of completed) this.#unreported.set(id, { owner, until: now + UNREPORTED_MS });
      throw error;
    }
    const done = new Set(completed);
    return ids.filter((id) => done.has(id));
  }

  /**
   * Completes as complete() does, each job's script fetching its queue's next waiting job while the claim has room
   * (as BullMQ's own worker does: one script per task, where a completion and a claim would be two); the rest of
   * the room is claimed as claim() would claim it.
   */
  async completeAndClaim(ids: readonly string[], owner: string, now: number, claim: ReleaseClaim): Promise<CompletedAndClaimed> {
    checkOwner('complete()', owner);
    checkTime('complete(): now', now);
    checkReleaseClaim(claim, 'complete(): claim');
    this.#opened();
    const mine = this.#owned(ids, owner);
    const { names, concurrency, limit, leaseUntil } = claim;
    let claimed: StoredTask[] = [];
    const completed = await this.#completing(ids, owner, now, async (completed) => {
      // One deadline for the claim's steps, counted from the call; the completions themselves are awaited whole (each
      // command bounded alone, as complete()'s are): the runner must hear which Redis took.
      claimed = await this.#claiming('completeAndClaim()', names, async (within) => this.#claimer.take(owner, leaseUntil, claim.now, async (fetched) => {
        await within(this.#claimer.promote(names, claim.now));
        let room = limit;
        const fetching = mine.map((each) => {
          const fetch = room > 0 && names.includes(each.queue) && concurrency[each.queue] !== 0;
          if (fetch) room--;
          return fetch;
        });
        const empty = new Set<string>();
        await awaitEvery(mine.map(async (each, i) => {
          if (fetching[i]) await this.#claimer.fetcher(each.queue, concurrency, leaseUntil);
          const next = await this.#ends.completeJob(each, now, fetching[i]!);
          if (next === GONE) return;
          completed.push(each.job.id!);
          if (next !== undefined) fetched.add({ job: next, token: each.token, owner, queue: each.queue });
          else if (fetching[i]) empty.add(each.queue);
        }));
        // The room completions did not fill, claimed from the names where they did not find the line empty.
        if (fetched.jobs.length < limit) await this.#claimer.fetch({ owner, names: names.filter((name) => !empty.has(name)), concurrency, limit, leaseUntil }, fetched, within);
      }, true, within));
    });
    return { completed, claimed };
  }

  async fail(id: string, owner: string, error: AttemptError, retryAt: number | null): Promise<boolean> {
    checkAttemptError(error);
    if (retryAt !== null) checkTime('fail(): retryAt', retryAt);
    this.#opened();
    const [claim] = this.#owned([id], owner);
    if (claim === undefined) return false;
    return this.#call(() => this.#ends.failJob(claim, error, retryAt));
  }

  /** A Redis that may evict keys (its maxmemory-policy not noeviction), as open() found it: see evictionWarning(). */
  warnings(): readonly string[] {
    return this.#warnings;
  }

  whyRefused(id: string): string | undefined {
    return this.#ends.whyRefused(id);
  }

  async giveBack(ids: readonly string[], owner: string): Promise<void> {
    this.#opened();
    const mine = this.#untrack(ids, owner);
    if (mine.length === 0) return;
    await this.#call(() => this.#ends.putBack(mine));
  }

  /**
   * Holds whose lease ran out (their process died) are swept into BullMQ,
   * ready now (or at the runAt they were added with, their delay kept) with
   * their outcome unknown, one script per task name (each hold
   * recovered once, however many processes sweep). Running tasks of a dead
   * process are BullMQ's stalled jobs: moved back to waiting by BullMQ's
   * check, then counted as a failed attempt when next claimed (see
   * JobEnds.failStalled()). Each worker runs BullMQ's check on its own timer; this
   * reports how many jobs it moved since the last call.
   */
  async recover(now: number, random: () => number, leaseUntil?: number): Promise<Recovered> {
    checkTime('recover(): now', now);
    if (leaseUntil !== undefined) checkTime('recover(): leaseUntil', leaseUntil);
    // A lapsed job's lock lasts the recoverer's lease: a recoverer that died midway left it locked 30 s, run by no one.
    const lockMs = leaseUntil === undefined ? RECOVERY_LOCK_MS : Math.max(1, Math.ceil(leaseUntil - now));
    const client = this.#opened();
    const [held, lapsed] = await this.#bounded('recover()', (within) => this.#recovery.sweep(client, now, random, lockMs, (c) => this.#measureSkew(c), within));
    const running = lapsed + this.#bulls.takeStalled();
    const unreadable = this.#ends.takeUnreadable();
    return unreadable.length === 0 ? { held, running } : { held, running, unreadable };
  }

  async nextRunAt(names: readonly string[]): Promise<number | null> {
    const client = this.#opened();
    // One deadline for every name's look-up and read, one after another.
    return this.#bounded('nextRunAt()', async (within) => {
      let next: number | null = null;
      for (const name of names) {
        const q = this.#keys.queueKey(name);
        const [waiting, delayed] = await within(Promise.all([client.lrange(`${q}:wait`, -1, -1), client.zrange(`${q}:delayed`, '0', '0', 'WITHSCORES')]));
        const candidates: number[] = [];
        if (waiting[0] !== undefined) {
          const task = (await within(readTasks(this.#handle, [[name, waiting[0]]])))[0];
          if (task) candidates.push(task.runAt);
        }
        if (delayed[1] !== undefined) candidates.push(Math.floor(Number(delayed[1]) / 0x1000));
        for (const at of candidates) if (next === null || at < next) next = at;
      }
      return next;
    });
  }

  async unknownNames(names: readonly string[]): Promise<string[]> {
    const known = new Set(names);
    const counts = await this.#counts('unknownNames()', Date.now());
    return [...counts].filter(([name, c]) => !known.has(name) && c.ready + c.delayed > 0).map(([name]) => name);
  }

  async stats(now: number): Promise<StoreStats> {
    checkTime('stats(): now', now);
    const stats: StoreStats = { ...emptyCounts(), byName: {} };
    for (const [name, counts] of await this.#counts('stats()', now)) {
      if (Object.values(counts).every((n) => n === 0)) continue;
      stats.byName[name] = counts;
      for (const state of Object.keys(counts) as (keyof typeof counts)[]) stats[state] += counts[state];
    }
    return stats;
  }

  async #counts(call: string, now: number): Promise<Map<string, Omit<StoreStats, 'byName'>>> {
    const client = this.#opened();
    return this.#bounded(call, (within) => countByName(client, this.#keys, now, within));
  }

  async list(filter: ListFilter): Promise<StoredTask[]> {
    return (await this.#listPage('list()', filter)).tasks;
  }

  /**
   * Each list and set of the states asked, of each name, is looked through a stretch at a time for its newest jobs
   * after the cursor (only their time, seq and id read: see the script), but for the failed jobs, read from their
   * index from the cursor on (see failedPage() in listing.ts); the page's tasks alone are read whole. It
   * read every job of those states whole, then cut: 850 MB to list 100 of 200,000 failed tasks of 1 kB.
   */
  async listPage(filter: ListFilter): Promise<TaskPage> {
    return this.#listPage('listPage()', filter);
  }

  async #listPage(call: string, filter: ListFilter): Promise<TaskPage> {
    const checked = checkListFilter(filter);
    const cursor = checked.after === undefined ? ['', '', ''] : parseCursor(checked.after);
    const client = this.#opened();
    return this.#bounded(call, (within) => listPage(this.#handle, client, checked, cursor, within));
  }

  async get(id: string): Promise<StoredTask | null> {
    const client = this.#opened();
    return this.#bounded('get()', (within) => findTask(this.#handle, client, id, within));
  }

  async retry(id: string, now: number): Promise<boolean> {
    checkTime('retry(): now', now);
    const client = this.#opened();
    // One deadline for the look-up and the move: bounded apart, they took up to twice the timeout.
    return this.#bounded('retry()', async (within) => {
      const task = await findTask(this.#handle, client, id, within);
      if (task === null || task.state !== 'failed') return false;
      const token = randomUUID();
      const q = `${this.#keys.queueKey(task.name)}:`;
      const keys = [this.#keys.jobKey(task.name, id), ...this.#keys.failedKeys(task.name), `${q}de:${task.key ?? ''}`];
      // One script (see RETRY): its key taken back with BullMQ's move, never without it; the token finds its own move.
      return await within(runScript(client, 'retry', keys, [q, id, task.key === null ? '' : '1', now, token])) === 1;
    });
  }

  async keyHolder(name: string, key: string): Promise<string | null> {
    this.#opened();
    // One deadline for the look-up and the read (`coda tasks` asks while a person waits).
    return this.#bounded('keyHolder()', async (within) => {
      // BullMQ's deduplication key, per queue; one left by a job that has ended names no holder.
      const id = await within(this.#bulls.queue(name).getDeduplicationJobId(key));
      if (id === null) return null;
      const state = (await within(readTasks(this.#handle, [[name, id]])))[0]?.state;
      return state === 'held' || state === 'ready' || state === 'running' ? id : null;
    });
  }

  async discard(id: string): Promise<boolean> {
    const client = this.#opened();
    // One deadline for the look-up and the removal's steps, as retry().
    return this.#bounded('discard()', async (within) => {
      const task = await findTask(this.#handle, client, id, within);
      if (task === null || task.state === 'running') return false;
      this.#holds.delete(id);
      if (task.state === 'held') {
        await within(this.#endHolds(client, [{ id, name: task.name, key: task.key, how: 'skip', runAt: task.runAt, outcome: '' }]));
        return true;
      }
      if (await within(client.exists(this.#keys.jobKey(task.name, id))) === 0) return false;
      const job = this.#bulls.jobOf(this.#bulls.queue(task.name), id);
      // Out of the failed index while the job's hash says where its entry is; back in if the removal did not happen.
      await within(reindex(client, this.#keys, task.name, id, 'drop'));
      const removed = await within(ignoreGone(job.remove()));
      if (!removed) await within(reindex(client, this.#keys, task.name, id, 'sync'));
      return removed;
    });
  }

  async prune(before: number): Promise<number> {
    checkTime('prune(): before', before);
    const client = this.#opened();
    // One deadline for the look-up of the names and their prunes (a prune cut short is taken up by the next).
    return this.#bounded('prune()', async (within) => {
      const names = await within(client.smembers(this.#keys.namesKey()));
      // By Coda's finish time (the `now` complete() was given), not BullMQ's (its clients' Date.now()).
      const removed = await within(Promise.all(names.map((name) => {
        const q = this.#keys.queueKey(name);
        return runScript(client, 'prune', [`${q}:completed`, `${q}:events`], [before, `${q}:`]);
      })));
      return removed.reduce((sum: number, n) => sum + Number(n), 0);
    });
  }

  /**
   * Sends the registrations left to undo (see Undos), closes BullMQ's workers and queues, then the connection, by
   * `deadline` (a `performance.now()` time; by default `commandTimeoutMs` from now). A Redis that has not answered
   * by then (frozen, a dead link) is given up: the connections are cut, and the StoreUnavailable thrown says what
   * was left undone.
   */
  async close(deadline = performance.now() + this.#timeoutMs): Promise<void> {
    const client = this.#client;
    if (client === undefined) return;
    this.#client = undefined;
    const bull = this.#bulls.clear();
    this.#claims.clear();
    this.#holds.clear();
    this.#unreported.clear();
    this.#ends.forgetGone();
    const undone = await this.#undos!.close(deadline);
    const closed = await untilDeadline(Promise.all(bull.map((each) => each.close().catch(() => {}))), deadline);
    client.disconnect();
    if (!closed) for (const each of bull) void each.disconnect().catch(() => {});
    if (closed && undone.length === 0) return;
    const gaveUp = [
      ...undone.length === 0 ? [] : [`${undone.length} failed registration(s) to undo (their held tasks run when their holds expire, as a dead process's do)`],
      ...closed ? [] : [`closing ${bull.length} BullMQ worker(s) and queue(s) (their connections cut)`],
    ];
    throw new StoreUnavailable(this.description, new Error(`Redis did not answer by the close's deadline: gave up ${gaveUp.join(' and ')}`));
  }

  #owned(ids: readonly string[], owner: string): Claim[] {
    return ids.map((id) => this.#claims.get(id)).filter((claim): claim is Claim => claim !== undefined && claim.owner === owner);
  }

  /** `owner`'s claims among `ids`, let go of before they are written back: the heartbeat no longer renews them. */
  #untrack(ids: readonly string[], owner: string): Claim[] {
    const mine = this.#owned(ids, owner);
    for (const { job } of mine) this.#claims.delete(job.id!);
    return mine;
  }

  #opened(): Redis {
    if (this.#client === undefined) throw new StoreUnavailable(this.description, new Error('the store is not open'));
    return this.#client;
  }

  /**
   * Runs a call on Redis bounded by commandTimeoutMs (`timeouts` of them) from now, as #call: `work` awaits each of its steps through
   * `within`, which fails it once the time is up, so that no later command is sent (see callDeadline).
   */
  async #bounded<T>(call: string, work: (within: Within) => Promise<T>, timeouts = 1, why?: string): Promise<T> {
    return this.#stepwise(call, (within) => within(work(within)), timeouts, why);
  }

  /**
   * As #bounded, but `work` is not raced whole: each of its steps is awaited through `within`, and the call fails
   * with the work's own error, which says more than the deadline's. Raced whole, a registration's deadline could
   * fire just before its last step's (two timers, one deadline): its caller was told a plain timeout, not that the
   * registration was not undone (test/bullmq/faults.test.ts "… the registrations kept to undo stop at a bound",
   * which failed so on Node 22 in one run of four); a claim's give-back is its own (see Claimer.take()).
   */
  async #stepwise<T>(call: string, work: (within: Within) => Promise<T>, timeouts = 1, why?: string): Promise<T> {
    const within = callDeadline(call, this.#timeoutMs * timeouts, why);
    return this.#call(() => work(within));
  }

  /** Runs a call on Redis; a lost or refusing Redis becomes StoreUnavailable. */
  async #call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isUnavailable(error)) throw new StoreUnavailable(this.description, error, unavailableReason(error as Error));
      throw error;
    }
  }
}


