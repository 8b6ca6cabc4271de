import type { Worker } from 'bullmq';
import { DEFAULT_BACKOFF, DEFAULT_TIMEOUT_MS, isBackoff, isTimeoutMs } from '../durable/task.js';
import { badParts, quoted } from '../durable/unreadable-words.js';
import { isWhen } from '../http/when.js';
import { FIELD, fromPairs, isTaskData } from './jobs.js';

// A Coda job's hash fields that hold JSON (its data, its opts, its outcome), edited by hand (redis-cli) or written by
// another version: BullMQ's fetch threw on one that is not JSON (the job left active, stalled, fetched again: every
// claim of its name failed), and get() and list() threw on it. Looked at before BullMQ or Coda parses them.

/** A Coda job's JSON fields as they read again, the bad ones replaced, and the bad ones named with their text. */
export interface ReadableJob {
  /** The fields to write (or show) in place of the stored ones (`data`, `opts`, `coda:outcome`), only those bad. */
  fields: Record<string, string>;
  bad: string[];
  backoffOk: boolean;
}

const UNPARSED = Symbol('unparsed');
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const objectOrNull = (value: unknown): boolean => value === null || isObject(value);
const stringOrNull = (value: unknown): boolean => value === null || typeof value === 'string';
const finite = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);

/**
 * What a Coda job's data holds (jobData()): each member's check and its stand-in; `optional` ones may be absent (an
 * earlier version's job). A payload that is not a string (its JSON written in place of its text) stands as its JSON.
 */
const MEMBERS: Record<string, { ok: (value: unknown) => boolean; standIn: (value: unknown, hash: Record<string, string>) => unknown; optional?: true }> = {
  payload: { ok: (value) => typeof value === 'string', standIn: (value) => JSON.stringify(value ?? null) },
  key: { ok: stringOrNull, standIn: () => null, optional: true },
  // As a dead process's hold whose outcome is unknown: it runs.
  when: { ok: isWhen, standIn: () => 'always' },
  timeoutMs: { ok: isTimeoutMs, standIn: () => DEFAULT_TIMEOUT_MS },
  backoff: { ok: isBackoff, standIn: () => DEFAULT_BACKOFF },
  request: { ok: objectOrNull, standIn: () => null, optional: true },
  trace: { ok: (value) => value === null || (isObject(value) && Object.values(value).every((each) => typeof each === 'string')), standIn: () => null, optional: true },
  runAt: { ok: finite, standIn: (_, hash) => Number(hash.timestamp), optional: true },
  holder: { ok: stringOrNull, standIn: () => null, optional: true },
  seq: { ok: finite, standIn: () => 0, optional: true },
};

/** A Coda job's options (jobOptions()) when its opts do not read: failed for good, kept, never pruned. */
const STAND_IN_OPTS = { attempts: 1, backoff: { type: 'coda' }, removeOnFail: false };

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return UNPARSED;
  }
}

/**
 * The JSON fields of a Coda job's hash, each bad one (not JSON, or not of its shape) replaced so that the job reads
 * again; undefined when each is good, or when the job is not Coda's (another program's, valid JSON of its own: neither
 * its options say Coda's backoff nor its data is a task's; refused as such when claimed). Opts or data that are not JSON are a hand edit
 * (BullMQ writes JSON). Data that is not a JSON object stands as a task whose payload is its text, kept whole.
 */
export function readableJob(hash: Record<string, string>): ReadableJob | undefined {
  if (hash.data === undefined) return undefined;
  const opts = parsed(hash.opts ?? '{}');
  const data = parsed(hash.data);
  const coda = opts === UNPARSED || data === UNPARSED || (isObject(opts) && isObject(opts.backoff) && opts.backoff.type === 'coda') || isTaskData(data);
  if (!coda) return undefined;
  const bad: string[] = [];
  const fields: Record<string, string> = {};
  let backoffOk = true;
  if (isObject(data)) {
    const readable = { ...data };
    for (const [member, { ok, standIn, optional }] of Object.entries(MEMBERS)) {
      const value = data[member];
      if ((optional && value === undefined) || ok(value)) continue;
      bad.push(`data.${member} (${value === undefined ? 'absent' : quoted(JSON.stringify(value))})`);
      readable[member] = standIn(value, hash);
      if (member === 'backoff') backoffOk = false;
    }
    if (bad.length > 0) fields.data = JSON.stringify(readable);
  } else {
    bad.push(`data (${quoted(hash.data)})`);
    const readable = Object.fromEntries(Object.entries(MEMBERS).map(([member, { standIn }]) => [member, standIn(undefined, hash)]));
    fields.data = JSON.stringify({ ...readable, payload: hash.data });
    backoffOk = false;
  }
  const attempts = isObject(opts) ? opts.attempts : undefined;
  if (!isObject(opts) || !(attempts === undefined || (Number.isInteger(attempts) && (attempts as number) >= 0))) {
    bad.push(`opts (${quoted(hash.opts!)})`);
    fields.opts = JSON.stringify(isObject(opts) ? { ...opts, attempts: 1 } : STAND_IN_OPTS);
  }
  const outcome = hash[FIELD.outcome];
  if (outcome !== undefined && parsed(outcome) === UNPARSED) {
    bad.push(`${FIELD.outcome} (${quoted(outcome)})`);
    fields[FIELD.outcome] = 'null';
  }
  return bad.length === 0 ? undefined : { fields, bad, backoffOk };
}

/** Why a job's fields are bad: `its field data.backoff ("null") is not valid JSON of its shape (edited by hand?), replaced`. */
export function badFields({ bad, backoffOk }: ReadableJob, replaced: string): string {
  return badParts('field', bad, backoffOk, replaced);
}

/**
 * Makes `worker`'s fetches (BullMQ's moveToActive, and moveToFinished fetching the next job) hand BullMQ a Coda job's
 * bad fields replaced (readableJob()): BullMQ parses its data and opts as it builds the job, and threw, the job left
 * active under the fetch's lock (stalled, fetched again, throwing again). The hash in Redis is left as it is: the
 * claim that took it fails it for good, saying why (see the store's claim).
 */
export function screenFetches(worker: Worker): void {
  const backend = worker.backend as unknown as { execCommand(client: unknown, command: string, args: unknown[]): Promise<unknown> };
  const execute = backend.execCommand.bind(backend);
  backend.execCommand = async (client, command, args) => {
    const reply = await execute(client, command, args);
    // The fetched job's hash, as a flat list of fields and values, first in the reply.
    const flat = Array.isArray(reply) && (command === 'moveToActive' || command === 'moveToFinished') && Array.isArray(reply[0]) ? reply[0] as string[] : [];
    const readable = flat.length === 0 ? undefined : readableJob(fromPairs(flat));
    for (let i = 0; readable !== undefined && i < flat.length; i += 2) {
      if (Object.hasOwn(readable.fields, flat[i]!)) flat[i + 1] = readable.fields[flat[i]!]!;
    }
    return reply;
  };
}
