import { isUniqueViolation } from './sqlite-failure.js';
import { backoffText } from './sqlite-rows.js';
import type { Statements } from './sqlite-statements.js';
import type { AddResult, NewTask } from './store.js';

/**
 * A registration (see SqliteStore.add()), in the transaction of `s`: each task inserted, held by `owner` until
 * `leaseUntil` if it is held, or the id of the pending task that keeps its key already (a duplicate).
 */
export function insertTasks(s: Statements, tasks: readonly NewTask[], owner: string, leaseUntil: number, createdAt: number, description: string): AddResult[] {
  return tasks.map((task): AddResult => {
    if (task.key !== null) {
      const pending = s.keyHolder.get(task.key);
      if (pending !== undefined) return { id: pending.id as string, duplicate: true };
    }
    try {
      s.insert.run(
        task.id, task.name, task.held ? 'held' : 'ready', task.key, task.when, task.maxAttempts, task.timeoutMs, task.runAt,
        task.held ? owner : null, task.held ? leaseUntil : null, createdAt,
        backoffText(task.backoff), json(task.request), json(task.trace), task.payload,
      );
    } catch (error) {
      // The pending key was looked up just before: the one unique value left is the id.
      if (isUniqueViolation(error)) throw new Error(`${description}: add(): a task with id ${JSON.stringify(task.id)} is already stored`, { cause: error });
      throw error;
    }
    return { id: task.id, duplicate: false };
  });
}

const json = (value: object | null): string | null => (value === null ? null : JSON.stringify(value));
