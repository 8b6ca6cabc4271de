import type { AttemptError, Backoff, NewTask, RequestSnapshot, StoredTask, TaskState, When } from '../durable/store.js';
import { quoted } from '../durable/unreadable-words.js';

// How a Coda task lives in a BullMQ job. What never changes is the job's data
// (so that Bull Board and any BullMQ tool show it); what changes is kept in
// fields of Coda's own on the job's hash (removed with it), and each failed
// attempt is a line of the job's log (Bull Board shows it; removed with it).

/** The job's data: the task as registered. */
export interface JobData {
  /** The payload's JSON text, verbatim. */
  payload: string;
  key: string | null;
  when: When;
  timeoutMs: number;
  backoff: Backoff;
  request: RequestSnapshot | null;
  trace: Record<string, string> | null;
  runAt: number;
  /** The process that holds it until its response is done (null: ready at once). */
  holder: string | null;
  /** Orders tasks added in the same millisecond (list()). */
  seq: number;
}

/** Coda's fields on the job's hash (`coda:...`), each overriding the data's first value. */
export const FIELD = {
  owner: 'coda:owner',
  lease: 'coda:lease',
  runAt: 'coda:runAt',
  startedAt: 'coda:startedAt',
  finishedAt: 'coda:finishedAt',
  outcome: 'coda:outcome',
  /** Attempts Coda started (claims it completed): more than BullMQ's ended ones (`atm`) when one stalled. */
  started: 'coda:started',
  /** The lock token of the claim that last started an attempt: a give-back undoes only its own claim. */
  token: 'coda:token',
  /** The registration call that wrote a held task: the same call sent again (its reply lost) finds its own tasks. */
  added: 'coda:added',
  /** The retry by hand (its call's token) that last moved the job out of the failed set: the same call sent again (its reply lost) answers as it did. */
  retried: 'coda:retried',
  /** The claim (its `token`) whose attempt's error is on the log: a stall charged for that attempt logs none of its own. */
  logged: 'coda:logged',
  /** The claim whose logged error failed the task for good (a NonRetryableError, its last attempt): a stall charged for it fails it so too. */
  loggedFinal: 'coda:loggedFinal',
} as const;

/** The suffix of a queue's holds (a sorted set of held tasks' ids, scored by their leases): a queue's key, then `:coda-holds`. */
export const HELD = 'coda-holds';

/** The suffix of a queue's failed index (its failed jobs in the listing's order: see the scripts' FAILED_PAGE). */
export const FAILED_INDEX = 'coda-failed';

/** BullMQ's queue names cannot hold ':', which task names may: '~' stands for it (task names never hold '~'). */
export const queueName = (taskName: string): string => taskName.replaceAll(':', '~');

export function jobData(task: NewTask, owner: string, seq: number): JobData {
  return {
    payload: task.payload, key: task.key, when: task.when, timeoutMs: task.timeoutMs, backoff: task.backoff,
    request: task.request, trace: task.trace, runAt: task.runAt,
    holder: task.held ? owner : null, seq,
  };
}

/** Completed jobs BullMQ keeps (its `removeOnComplete`): the newest `count`, none older than `age` seconds. */
export interface KeepCompleted {
  count: number;
  age: number;
}

/**
 * A task's BullMQ job options, as `addBulk` takes them; `delay` from
 * `timestamp`. `codaSeq`, the order added (as in the data), is there too,
 * among the few bytes of the hash's `opts`: a listing orders jobs by it
 * without reading their data, payload and all (BullMQ keeps options it does
 * not know). As text: BullMQ's script writes a number of 16 digits with 14
 * (`1.795563630873e+15`), which would tie jobs added in one millisecond.
 */
export function jobOptions(task: NewTask, timestamp: number, delay: number, keepCompleted: KeepCompleted, seq: number) {
  return {
    jobId: task.id, timestamp, delay, attempts: task.maxAttempts, backoff: { type: 'coda' }, removeOnComplete: keepCompleted, removeOnFail: false, codaSeq: String(seq),
    ...(task.key === null ? {} : { deduplication: { id: task.key } }),
  };
}

/** The options of a held task's job as BullMQ stores them on the job's hash (its short names: `deduplication` is `de`). */
export function storedOptions(task: NewTask, timestamp: number, keepCompleted: KeepCompleted, seq: number): string {
  const { deduplication, ...opts } = jobOptions(task, timestamp, 0, keepCompleted, seq);
  return JSON.stringify(deduplication === undefined ? opts : { ...opts, de: deduplication });
}

/** BullMQ's states, as Coda names them; a job among its queue's holds is held (it is in none of BullMQ's lists). */
function stateOf(bullState: string, held: boolean): TaskState | null {
  if (held) return 'held';
  switch (bullState) {
    case 'active': return 'running';
    case 'completed': return 'completed';
    case 'failed': return 'failed';
    case 'delayed':
    case 'waiting': case 'wait': case 'prioritized': case 'paused': return 'ready';
    default: return null;
  }
}

/**
 * Whether a job's data is a Coda task's (jobData()'s): a job another program put in a Coda queue (BullMQ's own
 * Queue.add) has data of its own, and is refused when claimed (failed, naming the problem).
 */
export function isTaskData(data: unknown): data is JobData {
  const { payload, when, backoff } = (data ?? {}) as Partial<JobData>;
  return typeof payload === 'string' && typeof when === 'string' && typeof backoff === 'object' && backoff !== null;
}

/** A job's data, parsed; undefined when it is not JSON (a job another program wrote). */
function parseData(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What one read of a job gave: its task name (its queue's), hash, log, BullMQ state, and its lease among its queue's holds (null: not held). */
export interface JobRead {
  name: string;
  id: string;
  hash: Record<string, string>;
  logs: string[];
  bullState: string;
  heldUntil: number | null;
  /** Its last error, shown after those of its log: a job whose fields were shown replaced says so (see readableJob()). */
  note?: AttemptError;
}

/** A hash as Redis gives it to a script (field, value, ...), as an object. */
export function fromPairs(flat: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
  return hash;
}

const numberOr = (text: string | undefined, fallback: number | null): number | null => (text === undefined ? fallback : Number(text));

/** The task a job stands for, or null when it is gone. */
export function toTask({ name, id, hash, logs, bullState, heldUntil, note }: JobRead): StoredTask | null {
  const state = stateOf(bullState, heldUntil !== null);
  if (state === null || hash.data === undefined) return null;
  const parsed = parseData(hash.data);
  // Another program's job (refused when claimed): listed with its data as the payload, as a task without options.
  const data: JobData = isTaskData(parsed) ? parsed : {
    payload: hash.data, key: null, when: 'always', timeoutMs: 0, backoff: { type: 'fixed', delayMs: 0 }, request: null, trace: null,
    runAt: Number(hash.timestamp), holder: null, seq: 0,
  };
  const opts = JSON.parse(hash.opts ?? '{}') as { attempts?: number };
  const made = Number(hash.atm ?? 0);
  const owned = state === 'held' || state === 'running';
  const ended = state === 'completed' || state === 'failed';
  const createdAt = Number(hash.timestamp);
  return {
    id,
    name,
    payload: data.payload,
    state,
    key: data.key,
    when: data.when,
    // BullMQ counts an attempt when it ends (`atm`); a running one is counted here too.
    attempt: made + (state === 'running' ? 1 : 0),
    // BullMQ's own add writes 0 when not told.
    maxAttempts: Math.max(1, opts.attempts ?? 1),
    backoff: data.backoff,
    timeoutMs: data.timeoutMs,
    runAt: numberOr(hash[FIELD.runAt], data.runAt)!,
    owner: !owned ? null : state === 'held' ? data.holder : hash[FIELD.owner] ?? null,
    leaseUntil: !owned ? null : state === 'held' ? heldUntil : numberOr(hash[FIELD.lease], null),
    createdAt,
    startedAt: numberOr(hash[FIELD.startedAt], null),
    finishedAt: ended ? numberOr(hash[FIELD.finishedAt], numberOr(hash.finishedOn, null)) : null,
    request: data.request,
    outcome: hash[FIELD.outcome] === undefined ? null : JSON.parse(hash[FIELD.outcome]!),
    trace: data.trace,
    errors: [...logs.filter((line) => line.startsWith('{"attempt"')).map((line) => attemptError(line, createdAt)), ...note === undefined ? [] : [note]],
  };
}

/**
 * A failed attempt's line of a job's log; one edited by hand into text that is not JSON is shown as an error saying
 * so (it threw, and with it get(), list() and every claim of the job). Only shown: the log is history, and Redis
 * appends to it whatever it holds, so the task runs as it would.
 */
function attemptError(line: string, createdAt: number): AttemptError {
  try {
    return JSON.parse(line) as AttemptError;
  } catch {
    return { attempt: 0, message: `a line of the job's log is not valid JSON (edited by hand?): ${quoted(line)}`, startedAt: null, finishedAt: createdAt };
  }
}
