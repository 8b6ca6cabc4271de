// A store whose calls of one method go through a function of the test's:
// to count a store's batches, or refuse a call as a locked file would.
import type { TaskStore } from 'coda-http';

export type StoreCall = (...args: unknown[]) => Promise<unknown>;

/** The store, its `method` calls made through `around` (given the store's own, bound). */
export function intercepting(inner: TaskStore, method: keyof TaskStore, around: (call: StoreCall, args: unknown[]) => Promise<unknown>): TaskStore {
  return new Proxy(inner, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      const call = value.bind(target) as StoreCall;
      return key === method ? (...args: unknown[]) => around(call, args) : call;
    },
  });
}
