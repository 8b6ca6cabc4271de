import { readableMessage } from './describe.js';

/**
 * Refuses, where the work is done by calling a function (an after-response
 * task, a durable task, a signal receiver, a shutdown hook), one whose call
 * cannot do it: a generator function (sync or async), whose call runs none
 * of its body (it runs only as its iterator is read), so such a task
 * "completed" with nothing done; and a class, whose call throws "Class
 * constructor cannot be invoked without 'new'", so it failed at every run.
 * One that cannot be read to tell (a Proxy whose traps throw) is refused too,
 * saying so, with what reading it threw as the cause.
 */
export function checkWorkFunction(where: string, fn: (...args: never[]) => unknown): void {
  let kind: 'GeneratorFunction' | 'AsyncGeneratorFunction' | 'class' | undefined;
  let named: string;
  try {
    kind = kindOf(fn);
    named = kind === undefined || fn.name === '' ? '' : ` (${String(fn.name)})`;
  } catch (error) {
    // A Proxy whose traps throw: its own error, unexplained, came out of connect() or after().
    throw new TypeError(`${where} takes a function it can read, got one whose reading threw (a Proxy whose trap throws?): ${readableMessage(error)}`, { cause: error });
  }
  if (kind === 'class') {
    throw new TypeError(`${where} takes a function whose call does the work, got a class${named}, which cannot be called without new; pass a function that uses it`);
  }
  if (kind !== undefined) {
    const what = `${kind === 'AsyncGeneratorFunction' ? 'an async generator' : 'a generator'} function${named}`;
    throw new TypeError(`${where} takes a function whose call does the work, got ${what}: calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }`);
  }
}

/** A generator function (sync or async) or a class: what a call does none of the work of. */
function kindOf(fn: (...args: never[]) => unknown): 'GeneratorFunction' | 'AsyncGeneratorFunction' | 'class' | undefined {
  const kind = (fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  if (kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction') return kind;
  return isClass(fn) ? 'class' : undefined;
}

/**
 * A `class`, by its source. Arrow and async functions, the usual tasks, have
 * no `prototype`, and a `function`'s is writable: only a class (or a built-in
 * constructor) pays for reading the source, which a task registered on every
 * request would.
 */
export function isClass(fn: Function): boolean {
  if ((fn as { prototype?: unknown }).prototype === undefined) return false;
  return Object.getOwnPropertyDescriptor(fn, 'prototype')?.writable === false && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
