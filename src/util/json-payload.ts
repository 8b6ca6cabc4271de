import { describe } from './describe.js';

/**
 * A payload as the JSON text to journal, refused (TypeError naming the task,
 * where it was registered, the route (`route()`, when it gives one) and the
 * path in the payload) unless it survives a
 * JSON round trip unchanged: functions, symbols, BigInt, NaN and Infinity,
 * `undefined` outside an object property (an array's holes too), an
 * array's named properties (JSON keeps its items only), cycles, class
 * instances (a Date would come back a string, a Map an empty object) and
 * nesting deeper than `MAX_DEPTH` levels are refused at registration, in the
 * request, not found broken when the task runs. -0 is taken, and comes back
 * 0, as JSON has it: refusing every computed -0 would be hostile, and no
 * comparison but Object.is tells them apart.
 */
export function payloadJson(task: string, where: string, payload: unknown, route: () => string | undefined, limit = Number.POSITIVE_INFINITY): string {
  const walk: Walk = {
    refuse: (path, what) => {
      // The route is looked up only here: a refusal is rare, a registration is not.
      const at = route();
      throw new TypeError(`${where}: the payload of task '${task}'${at === undefined ? '' : ` (route ${at})`} does not survive JSON: ${what} at ${path}`);
    },
    seen: new Set(),
    bytes: 0,
    limit,
    over: () => refuseSize(task, `at least ${walk.bytes}`, limit),
  };
  check(payload, '$', 0, walk);
  const json = JSON.stringify(payload);
  checkPayloadSize(task, json, limit);
  return json;
}

/**
 * Refuses a payload's JSON longer than `limit` bytes in UTF-8, naming the
 * task and both sizes. Counted only when it may be over: a UTF-16 unit is
 * at most 3 bytes, and never less than 1.
 */
export function checkPayloadSize(task: string, payload: string, limit: number): void {
  if (payload.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(payload);
  if (bytes > limit) refuseSize(task, String(bytes), limit);
}

function refuseSize(task: string, bytes: string, limit: number): never {
  throw new RangeError(
    `the payload of durable task '${task}' is ${bytes} bytes of JSON, over the limit of ${limit} (createApp({ tasks: { payloadLimit } })): pass a reference to large data (a row's id, a file's path), not the data`,
  );
}

/**
 * The check's state: what refuses a value, the objects on the path (a cycle),
 * and a count of the JSON's bytes that is never more than its size (a UTF-16
 * unit is at least one byte, a number a digit): once it passes `limit` the
 * payload is refused there, neither walked nor serialized further (a 50 MB
 * string cost some 90 ms of serializing before it was refused).
 */
interface Walk {
  readonly refuse: (path: string, what: string) => never;
  readonly seen: Set<object>;
  bytes: number;
  readonly limit: number;
  readonly over: () => never;
}

/** Deeper than this, the check (and JSON.stringify past a few thousand) would overflow the stack: refused with a message instead. */
const MAX_DEPTH = 1_000;

function check(value: unknown, path: string, depth: number, walk: Walk): void {
  const { seen, refuse } = walk;
  switch (typeof value) {
    case 'string':
      counted(walk, value.length + 2);
      return;
    case 'boolean':
      counted(walk, 4);
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `the number ${String(value)}`);
      counted(walk, 1);
      return;
    case 'object':
      break;
    default:
      refuse(path, describe(value));
  }
  // null, or the brackets of an object or array.
  counted(walk, value === null ? 4 : 2);
  if (value === null) return;
  const object = value as object;
  if (seen.has(object)) refuse(path, 'a cycle');
  // Its path is a thousand steps long: its start says where.
  if (depth === MAX_DEPTH) refuse(`${path.slice(0, 40)}...`, `nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(object)) {
    seen.add(object);
    // A loop, not forEach: forEach skips an array's holes, which JSON turns into null.
    for (let i = 0; i < object.length; i++) {
      const item: unknown = object[i];
      if (item === undefined) refuse(`${path}[${i}]`, 'undefined (it would become null)');
      // Its comma.
      if (i > 0) counted(walk, 1);
      check(item, `${path}[${i}]`, depth + 1, walk);
    }
    // With no holes (refused above), any key past the indexes is a named property, which JSON drops.
    const named = Object.keys(object)[object.length];
    if (named !== undefined) refuse(`${path}.${named}`, 'a named property of an array (JSON keeps its items only)');
  } else {
    const prototype = Object.getPrototypeOf(object) as object | null;
    if (prototype !== Object.prototype && prototype !== null) refuse(path, `${describe(object)} (it would lose its type)`);
    seen.add(object);
    let first = true;
    for (const key of Object.keys(object)) {
      const item = (object as Record<string, unknown>)[key];
      // An undefined property is left out by JSON, as it is read back: the same object to its reader.
      if (item === undefined) continue;
      // "key": and, but for the first, its comma.
      counted(walk, key.length + (first ? 3 : 4));
      first = false;
      check(item, `${path}.${key}`, depth + 1, walk);
    }
  }
  seen.delete(object);
}

function counted(walk: Walk, bytes: number): void {
  walk.bytes += bytes;
  if (walk.bytes > walk.limit) walk.over();
}
