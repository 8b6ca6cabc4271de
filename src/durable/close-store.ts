import type { SafeLog } from '../log/safe-log.js';
import type { TaskStore } from './store.js';

/**
 * How long past a shutdown's deadline closing a store may end: saying goodbye
 * to Redis takes a round trip. The same second as the runner's grace for
 * giving running tasks back, and shared with it: a store that stops answering
 * holds shutdown one second past its deadline, not two.
 */
const STORE_CLOSE_MS = 1000;

/**
 * Closes `store` at the end of a shutdown whose running attempts had until
 * `deadline`: those given up at it used all of it, and a store given a
 * deadline already past gave up at once (a BullMQ store logged that Redis did
 * not answer, Redis well). A store that fails to close is logged, not thrown.
 */
export async function closeStore(store: TaskStore, deadline: number, logger: SafeLog): Promise<void> {
  await store.close(deadline + STORE_CLOSE_MS)
    .catch((error: unknown) => logger.error({ err: error }, `the ${store.description} did not close cleanly`));
}
