import type { BullmqStoreOptions } from 'coda-http/bullmq';
import { BullmqStore } from '../../src/bullmq/store.js';

/** A runner's own calls: claims, recovery sweeps, the ends of attempts. */
type RunnerCall = 'claim' | 'recover' | 'complete' | 'completeAndClaim';

/** A BullMQ store whose `methods` tell `refused` each error they reject with. */
export function hearingRefusals(options: BullmqStoreOptions, methods: RunnerCall | RunnerCall[], refused: (error: unknown) => void): BullmqStore {
  const store = new BullmqStore(options);
  for (const method of [methods].flat()) {
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
  }
  return store;
}
