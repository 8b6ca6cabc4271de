import type { SafeLog } from './safe-log.js';

/** A listener of durable task ends (`tasks.observe()`: the test client, metrics, the dashboard). */
export type Observer<Told> = (record: Told) => void;

/**
 * Tells each observer `record`. One that throws is logged and passed over:
 * it is told on the way to a task's state change, which it used to stop (a
 * skipped hold never released, kept and renewed for good; a completion's
 * throw an unhandled rejection; the observers after it told nothing).
 */
export function tellObservers<Told extends { id: string; name: string; state: string }>(observers: Iterable<Observer<Told>>, record: Told, log: SafeLog): void {
  for (const observer of observers) {
    try {
      observer(record);
    } catch (failure) {
      log.error({ err: failure, taskId: record.id, task: record.name }, `a tasks.observe() listener threw when told that durable task ${record.name} was ${record.state}: ignored`);
    }
  }
}
