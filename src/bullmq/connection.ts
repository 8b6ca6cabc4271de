import type { ConnectionOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { describe } from '../util/describe.js';
import { untilDeadline } from '../util/deadline.js';
import { checkKeys } from '../util/options.js';
import { StoreUnavailable } from '../durable/errors.js';
import type { RedisConnection } from './options.js';
import { defineScripts } from './scripts.js';

const KEYS = ['host', 'port', 'username', 'password', 'db', 'tls'];

/** The checked connection, with the address errors name (`redis://127.0.0.1:6379/0`). */
export function checkConnection(connection: unknown): { options: RedisConnection; address: string } {
  checkKeys('bullmqStore() connection', connection, KEYS);
  const options = connection as RedisConnection;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 6379;
  if (typeof host !== 'string' || host === '') throw new TypeError(`bullmqStore(): connection.host must be a host name, got ${describe(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bullmqStore(): connection.port must be a port number, got ${describe(port)}`);
  const db = options.db ?? 0;
  if (!Number.isInteger(db) || db < 0) throw new RangeError(`bullmqStore(): connection.db must be a database number, got ${describe(db)}`);
  return { options: { ...options, host, port, db }, address: `redis${options.tls ? 's' : ''}://${host}:${port}/${db}` };
}

/** How long to wait between reconnections: quickly at first, at most a second, forever (service resumes when Redis returns). */
const reconnectDelay = (times: number): number => Math.min(times * 50, 1000);

/** The default of `commandTimeoutMs`: how long a call waits for Redis's replies, so that a Redis that stops answering (paused, frozen, a dead link) gives 503s, not requests that hang until it answers. */
export const COMMAND_TIMEOUT_MS = 3_000;

/**
 * Awaits one step of a call (a command, or commands sent together) within what is left of the call's time;
 * `check()` throws as such a step would once that time has passed: for a call that must not send its next step then.
 */
export type Within = (<T>(reply: Promise<T>) => Promise<T>) & { readonly check: () => void };

/**
 * The bound of one call of the store (`call`, as `'get()'`): `timeoutMs` from
 * now, shared by every step it awaits through the function returned, which
 * rejects once that time has passed, with an error (in ioredis's words first,
 * which isUnavailable() knows) that names the call and the timeout. Each
 * command bounded by the timeout alone, a call that sends several one after
 * another (a registration's held tasks, then its ready ones; get()'s look-up,
 * then its read) took up to that many timeouts; and ioredis starts a
 * command's timer only once its auto-pipeline is sent, and sends none while
 * the one before is unanswered, so that a registration queued behind another
 * command to a frozen Redis waited out that one's timeout before its own.
 * `why` says where the time comes from, in the error.
 */
export function callDeadline(call: string, timeoutMs: number, why = "the store's commandTimeoutMs"): Within {
  const deadline = performance.now() + timeoutMs;
  const timedOut = (): Error => new Error(`Command timed out: ${call} had no answer from Redis within ${timeoutMs} ms (${why}), counted from the call`);
  const within = async <T>(reply: Promise<T>): Promise<T> => {
    if (!(await untilDeadline(reply, deadline))) throw timedOut();
    return reply;
  };
  return Object.assign(within, {
    check: (): void => {
      if (performance.now() >= deadline) throw timedOut();
    },
  });
}

/**
 * The store's own connection, for registrations and operations: it fails a
 * command at once while Redis is away (no offline queue), and after
 * `commandTimeoutMs` while Redis does not answer, so that a request gets its
 * 503 rather than waiting; it reconnects by itself. Auto-pipelined:
 * every command of one turn (Coda's and BullMQ's per-job scripts alike) goes
 * in one write, each with its own reply or error.
 */
export async function connect(connection: RedisConnection, address: string, description: string, commandTimeoutMs: number): Promise<Redis> {
  const { Redis: Client } = await import('ioredis');
  const client = new Client({
    ...connection, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5_000, commandTimeout: commandTimeoutMs,
    retryStrategy: reconnectDelay, enableAutoPipelining: true,
  } satisfies RedisOptions);
  // ioredis reports each failed reconnection as an 'error' event: the calls that fail meanwhile say so.
  client.on('error', () => {});
  // While connecting, the event is the only one to say why (a refused password, no answer): the call rejects with "Connection is closed".
  let why: Error | undefined;
  const heard = (error: Error): void => {
    why = error;
  };
  client.on('error', heard);
  defineScripts(client);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    const message = (why ?? error as Error).message;
    // A TLS client on a plain Redis's port connects, then hears no handshake: ioredis says only that it timed out.
    const hint = connection.tls !== undefined && /ETIMEDOUT|EPROTO|wrong version number|before secure TLS/i.test(message)
      ? ' (with tls: if the connection was made, its TLS handshake did not complete: does Redis serve TLS on that port? its tls-port, not its port)'
      : '';
    throw new StoreUnavailable(description, new Error(`cannot connect to Redis at ${address}: ${message}${hint}`, { cause: why ?? error }));
  } finally {
    client.off('error', heard);
  }
  await checkDatabase(client, connection.db!, address, description);
  return client;
}

/**
 * ioredis goes on in database 0 when Redis refuses its SELECT (an index past
 * the server's `databases`), saying so only in an 'error' event: the tasks
 * would be written beside whatever else lives there. Selected again here,
 * where a refusal fails the open.
 */
async function checkDatabase(client: Redis, db: number, address: string, description: string): Promise<void> {
  if (db === 0) return;
  try {
    await client.select(db);
  } catch (error) {
    client.disconnect();
    throw new StoreUnavailable(description, new Error(`Redis at ${address} refused connection.db ${db}: ${(error as Error).message} (its databases setting says how many it has)`, { cause: error }));
  }
}

/**
 * A Redis Cluster node runs a script only on keys of one hash slot, and
 * Coda's scripts span a prefix's keys (its task names, each name's queue):
 * on a cluster, the prefix must hold a hash tag (`{shop}`), which puts every
 * key of the store in one slot, as BullMQ asks of its own prefix. Without
 * one, every registration failed with Redis's CROSSSLOT error; it is refused
 * at open, saying what to do.
 */
export async function checkCluster(client: Redis, prefix: string, address: string): Promise<void> {
  // A Redis that does not let INFO be run (some managed ones) is not judged: the check is a help, not a need.
  if (!/^cluster_enabled:1/m.test(await readInfo(client, 'cluster'))) return;
  // Redis hashes what lies between the first '{' and the first '}' after it, when that is not empty.
  if (/^[^{]*\{[^}]+\}/.test(prefix)) return;
  throw new Error(`Redis at ${address} is a cluster node: the store's prefix must hold a hash tag, as '{${prefix}}' does, so that all its keys live in one hash slot (its scripts span them); got ${JSON.stringify(prefix)}`);
}

/**
 * Refuses a Redis older than BullMQ supports (`minimumVersion`), and tells
 * one older than it recommends, as BullMQ's own check does; read once, at
 * open, in Redis's INFO. Asked of every connection BullMQ opens instead, the
 * check failed its connection for good on one timeout: a name's worker
 * opened while Redis was frozen refused every claim after it. A Redis that
 * does not let INFO be run is not judged.
 */
export async function checkVersion(client: Redis, address: string, versions: { minimumVersion: string; recommendedMinimumVersion: string }): Promise<string | undefined> {
  const version = /^redis_version:(\S+)/m.exec(await readInfo(client, 'server'))?.[1];
  if (version === undefined) return undefined;
  if (olderThan(version, versions.minimumVersion)) {
    throw new Error(`Redis at ${address} is version ${version}: BullMQ needs ${versions.minimumVersion} or later`);
  }
  if (olderThan(version, versions.recommendedMinimumVersion)) {
    return `Redis at ${address} is version ${version}: BullMQ recommends ${versions.recommendedMinimumVersion} or later`;
  }
  return undefined;
}

/** Whether dotted version `a` comes before `b` (numerically, part by part: 6.10 after 6.9). */
function olderThan(a: string, b: string): boolean {
  const [x, y] = [a, b].map((version) => version.split('.').map((part) => Number.parseInt(part, 10) || 0));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const difference = (x![i] ?? 0) - (y![i] ?? 0);
    if (difference !== 0) return difference < 0;
  }
  return false;
}

/** A section of Redis's INFO; empty from a Redis that refuses INFO (some managed ones), whose checks are then skipped. */
async function readInfo(client: Redis, section: string): Promise<string> {
  return client.info(section).catch((error: unknown) => {
    if (isUnavailable(error) || (error as Error).name !== 'ReplyError') throw error;
    return '';
  });
}

/**
 * Why a Redis whose `maxmemory-policy` is not `noeviction` puts tasks at risk, naming the policy, or undefined when
 * it is `noeviction`. Such a Redis, once full, evicts keys (jobs, locks, queue lists) instead of refusing writes:
 * a task is lost, or runs twice. Read from INFO, as BullMQ reads it (CONFIG GET is refused by some managed Redis);
 * one that does not let INFO be run is not judged. BullMQ's own warning goes to the console, once per queue.
 */
export async function evictionWarning(client: Redis, address: string): Promise<string | undefined> {
  const policy = /^maxmemory_policy:(\S+)/m.exec(await readInfo(client, 'memory'))?.[1];
  if (policy === undefined || policy === 'noeviction') return undefined;
  return `Redis at ${address} has maxmemory-policy ${policy}: once full, it evicts keys (jobs, locks, queue lists) rather than refusing writes, and a durable task is then lost or run twice; set maxmemory-policy noeviction (a full Redis then refuses registrations with 503 and loses nothing)`;
}

/**
 * Options for BullMQ's workers' connections: they wait for Redis to return
 * rather than fail (BullMQ requires it); auto-pipelined, so that a turn's
 * fetches (and completions) go in one write. Coda fetches without blocking,
 * so a command that Redis does not answer fails after `commandTimeoutMs` as
 * on the store's own connection: a completion or give-back to a frozen Redis
 * does not hang the runner (or its shutdown) until Redis answers.
 */
export function workerConnection(connection: RedisConnection, commandTimeoutMs: number): ConnectionOptions {
  return { ...connection, maxRetriesPerRequest: null, retryStrategy: reconnectDelay, enableAutoPipelining: true, commandTimeout: commandTimeoutMs };
}

/** Redis's replies that mean "not now" rather than "wrong call" (MISCONF: it refuses writes while it cannot save to its disk). */
const UNAVAILABLE_REPLY = /^(OOM|READONLY|LOADING|MASTERDOWN|BUSY|NOREPLICAS|CLUSTERDOWN|TRYAGAIN|MISCONF)\b/;

/** ioredis's words for a call made with no connection: lost, retries spent (an option the store sets), not yet made again. */
const NO_CONNECTION = /^(Reached the max retries per request limit|Connection is closed|Stream isn't writeable)/;

/**
 * What a StoreUnavailable says of ioredis's `error`: its words for a call
 * made with no connection name an option the store sets ("Refer to
 * "maxRetriesPerRequest" option for details.") where an operator reading the
 * outage's line or a 503 needs to know that Redis cannot be reached; those
 * stay the error's cause (logged after it). Any other error says enough.
 */
export function unavailableReason(error: Error): string {
  return NO_CONNECTION.test(error.message) ? 'no connection to Redis: it was lost, and is not made again yet' : error.message;
}

/**
 * A failure of the connection (refused, closed, not writable while
 * reconnecting) or of the server's state (out of memory, loading, read-only, its disk failing):
 * the store is unavailable. An error Redis replied to a wrong call is not.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLY.test(error.message);
  return error.name === 'MaxRetriesPerRequestError' || /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|connect|Command timed out/i.test(error.message);
}
