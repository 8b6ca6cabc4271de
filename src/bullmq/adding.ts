import type { Redis } from 'ioredis';
import { keepsKey } from '../durable/key-rule.js';
import { StoreUnavailable } from '../durable/errors.js';
import type { AddResult, NewTask } from '../durable/store.js';
import { isUnavailable, type Within } from './connection.js';
import type { StoreHandle } from './store-handle.js';
import type { Hold } from './claiming.js';
import { jobData, jobOptions, storedOptions, type KeepCompleted } from './jobs.js';
import { runScript } from './scripts.js';
import { awaitEvery } from '../util/await-every.js';
import { MAX_UNDO_TASKS, type Undos } from './undo.js';
import type { Workers } from './workers.js';

/** ioredis's refusal of a command it did not send (the connection not ready, no offline queue): Redis never saw it. */
const NEVER_SENT = /Stream isn't writeable/;
/** At most this many ready tasks added by one addBulk (a pipeline of one script per job): some half a second's work for Redis. */
export const READY_CHUNK = 5_000;

/**
 * A store's registrations (see BullmqStore.add()): held tasks and names in
 * one script, then the ready tasks by BullMQ's addBulk, the whole call undone
 * when it fails in a way Redis may still carry out.
 */
export class Registrar {
  readonly #store: StoreHandle;
  readonly #bulls: Workers;
  /** The store's holds, by id: a held task registered is held by its owner. */
  readonly #holds: Map<string, Hold>;
  readonly #keepCompleted: KeepCompleted;
  /** The store's registrations to undo, once it is open. */
  readonly #undos: () => Undos;
  #seq = 0;

  constructor(store: StoreHandle, bulls: Workers, holds: Map<string, Hold>, keepCompleted: KeepCompleted, undos: () => Undos) {
    this.#store = store;
    this.#bulls = bulls;
    this.#holds = holds;
    this.#keepCompleted = keepCompleted;
    this.#undos = undos;
  }

  /** The tasks of one add() (checked, their ids distinct) registered under `token`, each step within the call's time. */
  async register(client: Redis, tasks: readonly NewTask[], owner: string, leaseUntil: number, token: string, within: Within): Promise<AddResult[]> {
    const now = Date.now();
    // Within the batch the first task that keeps a name's key takes it: the later ones are its duplicates, sent nowhere.
    const firstOfKey = new Map<string, NewTask>();
    const sameKeyAs = new Map<NewTask, NewTask>();
    for (const task of tasks) {
      if (task.key === null) continue;
      const key = `${task.name}\0${task.key}`;
      const first = firstOfKey.get(key);
      if (first !== undefined) sameKeyAs.set(task, first);
      else if (keepsKey(task)) firstOfKey.set(key, task);
    }
    const sent = tasks.filter((task) => !sameKeyAs.has(task));
    const held = sent.filter((task) => task.held);
    const ready = sent.filter((task) => !task.held);
    // One script refuses a taken id and writes the held tasks and the names; once it has, the ready ones are
    // BullMQ's addBulk per task name, a pipeline of one script per job (not a transaction: see the undo below).
    const names = new Set(tasks.map((task) => task.name));
    // Bounded from this call: a request's 503 comes commandTimeoutMs after its registration, whatever waits before it.
    const adding = within(runScript(
      client, 'add', [this.#store.keys.namesKey(), this.#undos().markOf(token), ...tasks.map((task) => this.#store.keys.jobKey(task.name, task.id))],
      [leaseUntil + this.#store.skew, held.length, token, ...held.flatMap((task) => {
        const seq = this.#nextSeq();
        return [
          `${this.#store.keys.queueKey(task.name)}:`, task.id, task.name, JSON.stringify(jobData(task, owner, seq)),
          storedOptions(task, now, this.#keepCompleted, seq), now, task.key ?? '', keepsKey(task) ? 1 : 0,
        ];
      }), ...names],
    ) as Promise<(number | string)[]>);
    const [taken, ...heldIds] = await this.#undoneIfLost(token, held, [], adding);
    // This call's undo reached Redis before it (see Undos): nothing was written, and the ready tasks are not sent.
    if (taken === -1) throw new StoreUnavailable(this.#store.description, new Error('add(): the registration reached Redis after its undo (an earlier failure of this same call), so nothing was stored'));
    if (taken !== 0) throw new Error(`${this.#store.description}: add(): a task with id ${JSON.stringify(tasks[Number(taken) - 1]!.id)} is already stored`);
    const byName = new Map<string, NewTask[]>();
    for (const task of ready) {
      const list = byName.get(task.name);
      if (list === undefined) byName.set(task.name, [task]);
      else list.push(task);
    }
    const idOf = new Map<NewTask, string>();
    held.forEach((task, i) => idOf.set(task, String(heldIds[i])));
    // Every name's adds settled first, then a failure undoes the whole call, whatever it was: BullMQ's addBulk is a
    // pipeline of one script per job, not a transaction, so that a refusal (Redis out of memory halfway) may come
    // after some of its jobs were written, and so may one of a later chunk, or one after the held tasks were.
    const adds = awaitEvery([...byName].map(([name, list]) => this.#addReady(name, list, owner, now, idOf, within)));
    await this.#undoneIfLost(token, held, ready, adds, true);
    return tasks.map((task): AddResult => {
      const id = idOf.get(sameKeyAs.get(task) ?? task)!;
      if (task.held && id === task.id) this.#holds.set(task.id, { name: task.name, key: task.key, owner });
      return { id, duplicate: id !== task.id };
    });
  }

  /**
   * A registration's write, undone (see Undos) when it fails in a way that Redis may still carry it out: timed out,
   * or its connection lost with it in flight; `always`: whatever the failure (a write that is not one transaction).
   * One that never left (Redis away, the connection not writable) is not, nor one Redis refused (out of memory,
   * read-only, loading): its reply says it wrote nothing. Undone, every request
   * refused while Redis was full was kept in memory and sent as an undo, refused too, until Redis had room again.
   */
  async #undoneIfLost<T>(token: string, held: readonly NewTask[], ready: readonly NewTask[], write: Promise<T>, always = false): Promise<T> {
    try {
      return await write;
    } catch (error) {
      if (always || (isUnavailable(error) && (error as Error).name !== 'ReplyError' && !NEVER_SENT.test((error as Error).message))) {
        const kept = this.#undos().add(token, [...held, ...ready].map((task) => ({ queue: `${this.#store.keys.queueKey(task.name)}:`, id: task.id, key: task.key, held: task.held })));
        // Said in the error (the request's 503, the outage's log lines): Redis may yet carry this one out.
        if (!kept) throw notUndone(error as Error);
      }
      throw error;
    }
  }

  /**
   * A name's ready tasks as BullMQ jobs, in addBulk calls of at most READY_CHUNK, one after another, each job's id (a
   * key's pending task's, for a duplicate) into `idOf`. One call for 100,000 tasks (a burst of enqueues in one turn)
   * kept Redis busy past the command timeout of its last scripts: every task refused. Past the call's time, no chunk is
   * sent: one sent after the registration's undo would stay.
   */
  async #addReady(name: string, list: readonly NewTask[], owner: string, now: number, idOf: Map<NewTask, string>, within: Within): Promise<void> {
    for (let from = 0; from < list.length; from += READY_CHUNK) {
      const chunk = list.slice(from, from + READY_CHUNK);
      const jobs = await within(this.#bulls.queue(name).addBulk(chunk.map((task) => {
        const seq = this.#nextSeq();
        return { name, data: jobData(task, owner, seq), opts: jobOptions(task, now, Math.max(0, task.runAt - now), this.#keepCompleted, seq) };
      })));
      chunk.forEach((task, i) => idOf.set(task, jobs[i]!.id!));
    }
  }

  #nextSeq(): number {
    this.#seq = Math.max(this.#seq + 1, Date.now() * 1000);
    return this.#seq;
  }
}

/** A lost registration's error, saying that it is not undone: too many already wait to be (see Undos). */
function notUndone(error: Error): Error {
  const told = new Error(`${error.message}; not undone, as many tasks of failed registrations as are kept (${MAX_UNDO_TASKS}) already wait to be: should Redis still carry it out, its held tasks run once their holds expire, their outcome unknown, and its ready ones at once`, { cause: error });
  // As it was: still the store's unavailability.
  told.name = error.name;
  return told;
}
