import { describe } from '../util/describe.js';
import { checkWorkFunction, isClass } from '../util/work-function.js';
import { closest } from '../util/options.js';
import type { Middleware } from './types.js';

/** The hooks a hooks middleware may have (middleware.md). */
const HOOKS = ['processRequest', 'processView', 'processException', 'processResponse', 'afterResponse'] as const;

/** Django's `process_template_response`, in any spelling (middleware.md: not carried over). */
const TEMPLATE_HOOK = /^process_?template_?response$/i;

/**
 * Refuses middleware that plain JavaScript would let through and that would
 * then silently do nothing: a class passed instead of an instance, a hooks
 * object with a misspelt or Django-spelt hook (`process_request`), or one
 * whose hook is not a function (skipped, or failing every request), or whose
 * afterResponse is a generator function (it never ran). A hooks
 * object with no hook at all is allowed, as Django allows a bare `MiddlewareMixin`.
 */
export function checkMiddleware(entry: Middleware, name: string): void {
  if (typeof entry === 'function') {
    if (isMiddlewareClass(entry)) {
      throw new TypeError(`middleware ${name} is a class: pass an instance (new ${entry.name || name}()), or a factory function`);
    }
    return;
  }
  for (const hook of HOOKS) {
    const value: unknown = entry[hook];
    if (value !== undefined && typeof value !== 'function') throw new TypeError(`middleware ${name}'s ${hook} is ${describe(value)}, expected a function`);
  }
  // The other hooks' results are checked (an iterator is no response); this one's is not: a generator's body never ran.
  if (typeof entry.afterResponse === 'function') checkWorkFunction(`middleware ${name}'s afterResponse`, entry.afterResponse);
  for (const key of methodNames(entry)) {
    if ((HOOKS as readonly string[]).includes(key)) continue;
    // Not a misspelling: no hook stands for it, and a port from Django needs to know why.
    if (TEMPLATE_HOOK.test(key)) {
      throw new TypeError(`middleware ${name} has a method ${JSON.stringify(key)}: Django's process_template_response is not carried over (Coda has no template responses); change the response in processResponse`);
    }
    if (/^(process|after)/i.test(key)) {
      const guess = closest(key, HOOKS);
      throw new TypeError(`middleware ${name} has a method ${JSON.stringify(key)}, which is not a hook${guess === undefined ? `; the hooks are ${HOOKS.join(', ')}` : `; did you mean ${JSON.stringify(guess)}?`}`);
    }
  }
}

/** A `class` (its source says so), or a function whose prototype carries hooks. */
function isMiddlewareClass(fn: Function): boolean {
  if (isClass(fn)) return true;
  const prototype = (fn as { prototype?: object }).prototype;
  return prototype !== undefined && Object.getOwnPropertyNames(prototype).some((key) => (HOOKS as readonly string[]).includes(key));
}

/** The names of an object's methods, its own and its classes' (up to Object.prototype). */
function methodNames(object: object): string[] {
  const names: string[] = [];
  for (let o: object | null = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, key);
      if (descriptor !== undefined && typeof descriptor.value === 'function') names.push(key);
    }
  }
  return names;
}
