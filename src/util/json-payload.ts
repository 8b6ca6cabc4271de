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
export function payloadJson(task: string, where: string, payload: unknown, route: () => string | undefined): string {
  check(payload, '$', 0, new Set(), (path, what) => {
    // The route is looked up only here: a refusal is rare, a registration is not.
    const at = route();
    throw new TypeError(`${where}: the payload of task '${task}'${at === undefined ? '' : ` (route ${at})`} does not survive JSON: ${what} at ${path}`);
  });
  return JSON.stringify(payload);
}

type Refuse = (path: string, what: string) => never;

/** Deeper than this, the check (and JSON.stringify past a few thousand) would overflow the stack: refused with a message instead. */
const MAX_DEPTH = 1_000;

function check(value: unknown, path: string, depth: number, seen: Set<object>, refuse: Refuse): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `the number ${String(value)}`);
      return;
    case 'object':
      break;
    default:
      refuse(path, describe(value));
  }
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
      check(item, `${path}[${i}]`, depth + 1, seen, refuse);
    }
    // With no holes (refused above), any key past the indexes is a named property, which JSON drops.
    const named = Object.keys(object)[object.length];
    if (named !== undefined) refuse(`${path}.${named}`, 'a named property of an array (JSON keeps its items only)');
  } else {
    const prototype = Object.getPrototypeOf(object) as object | null;
    if (prototype !== Object.prototype && prototype !== null) refuse(path, `${describe(object)} (it would lose its type)`);
    seen.add(object);
    for (const key of Object.keys(object)) {
      const item = (object as Record<string, unknown>)[key];
      // An undefined property is left out by JSON, as it is read back: the same object to its reader.
      if (item !== undefined) check(item, `${path}.${key}`, depth + 1, seen, refuse);
    }
  }
  seen.delete(object);
}
