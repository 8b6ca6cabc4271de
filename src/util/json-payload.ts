import { describe } from './describe.js';

/**
 * A payload as the JSON text to journal, refused (TypeError naming the task,
 * where it was registered, and the path in the payload) unless it survives a
 * JSON round trip unchanged: functions, symbols, BigInt, NaN and Infinity,
 * `undefined` outside an object property, cycles, and class instances (a Date
 * would come back a string, a Map an empty object) are refused at
 * registration, in the request, not found broken when the task runs.
 */
export function payloadJson(task: string, where: string, payload: unknown): string {
  check(payload, '$', new Set(), (path, what) => {
    throw new TypeError(`${where}: the payload of task '${task}' does not survive JSON: ${what} at ${path}`);
  });
  return JSON.stringify(payload);
}

type Refuse = (path: string, what: string) => never;

function check(value: unknown, path: string, seen: Set<object>, refuse: Refuse): void {
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
  if (Array.isArray(object)) {
    seen.add(object);
    object.forEach((item, i) => {
      if (item === undefined) refuse(`${path}[${i}]`, 'undefined (it would become null)');
      check(item, `${path}[${i}]`, seen, refuse);
    });
  } else {
    const prototype = Object.getPrototypeOf(object) as object | null;
    if (prototype !== Object.prototype && prototype !== null) refuse(path, `${describe(object)} (it would lose its type)`);
    seen.add(object);
    for (const key of Object.keys(object)) {
      const item = (object as Record<string, unknown>)[key];
      // An undefined property is left out by JSON, as it is read back: the same object to its reader.
      if (item !== undefined) check(item, `${path}.${key}`, seen, refuse);
    }
  }
  seen.delete(object);
}
