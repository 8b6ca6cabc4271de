/**
 * Refuses, where the work is done by calling a function (an after-response
 * task, a durable task, a signal receiver, a shutdown hook), one whose call
 * cannot do it: a generator function (sync or async), whose call runs none
 * of its body (it runs only as its iterator is read), so such a task
 * "completed" with nothing done; and a class, whose call throws "Class
 * constructor cannot be invoked without 'new'", so it failed at every run.
 */
export function checkWorkFunction(where: string, fn: (...args: never[]) => unknown): void {
  const kind = (fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  if (kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction') {
    const what = `${kind === 'AsyncGeneratorFunction' ? 'an async generator' : 'a generator'} function${fn.name === '' ? '' : ` (${fn.name})`}`;
    throw new TypeError(`${where} takes a function whose call does the work, got ${what}: calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }`);
  }
  if (isClass(fn)) {
    throw new TypeError(`${where} takes a function whose call does the work, got a class${fn.name === '' ? '' : ` (${fn.name})`}, which cannot be called without new; pass a function that uses it`);
  }
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
