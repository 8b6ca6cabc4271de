/**
 * Brands an error class so that it is told by a registry symbol, the same in
 * every copy of coda-http (two versions in node_modules, a bundled worker, a
 * custom store importing its own), where the class is not: `instanceof`
 * answers by the brand for `type` itself, by the prototype chain for a
 * subclass. Returns the test by the brand.
 *
 * @example
 * ```ts
 * export class StoreUnavailable extends Error {}
 * export const isStoreUnavailable = brand(StoreUnavailable, 'coda-http.StoreUnavailable');
 * ```
 */
export function brand(type: abstract new (...args: never[]) => object, key: string): (value: unknown) => boolean {
  const mark = Symbol.for(key);
  Object.defineProperty(type.prototype, mark, { value: true });
  const isBranded = (value: unknown): boolean => value !== null && (typeof value === 'object' || typeof value === 'function') && (value as Record<symbol, unknown>)[mark] === true;
  Object.defineProperty(type, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      return this === type ? isBranded(value) : Function.prototype[Symbol.hasInstance].call(this, value);
    },
  });
  return isBranded;
}
