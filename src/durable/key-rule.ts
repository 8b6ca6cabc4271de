import type { When } from './store.js';

/**
 * Whether a pending task keeps its `key`, so that a registration with the
 * same key meanwhile is its duplicate: a task sure to run (ready, running, or
 * held with `when` 'always'). A held task whose `when` may skip it keeps
 * none: a registration meanwhile is journaled too (absorbed, it would be lost
 * with the skip), and should the hold then run (released to run, or
 * recovered), it is removed if another pending task keeps the key by then,
 * whose run covers it; of several such holds run together, the first added
 * keeps the key.
 */
export function keepsKey(task: { held: boolean; when: When }): boolean {
  return !task.held || task.when === 'always';
}
