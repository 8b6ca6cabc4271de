import type { BullmqStoreOptions } from 'coda-http/bullmq';
import { BullmqStore } from '../../src/bullmq/store.js';

/** A BullMQ store whose `method` (a runner's own call: claims, recovery sweeps) tells `refused` each error it rejects with. */
export function hearingRefusals(options: BullmqStoreOptions, method: 'claim' | 'recover', refused: (error: unknown) => void): BullmqStore {
  const store = new BullmqStore(options);
  const call = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(store, method, {
    value: async (...args: unknown[]) => {
      try {
        return await call(...args);
      } catch (error) {
        refused(error);
        throw error;
      }
    },
  });
  return store;
}
