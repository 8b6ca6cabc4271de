import type { SafeLog } from './safe-log.js';

/** A listener of task ends (the test client, metrics, the dashboard; `tasks.observe()`). */
export type Observer<Told> = (record: Told) => void;

/**
 * Tells each observer `record`. One that throws is logged (`describe` gives
 * the line's fields and message, built only then) and passed over: it is
 * told on the way to a task's state change, which it used to stop (a
 * skipped hold never released, kept and renewed for good; a completion's
 * throw an unhandled rejection; the observers after it told nothing).
 */
export function tellObservers<Told>(observers: Iterable<Observer<Told>>, record: Told, log: SafeLog, describe: (record: Told) => [object, string]): void {
  for (const observer of observers) {
    try {
      observer(record);
    } catch (failure) {
      const [fields, message] = describe(record);
      log.error({ err: failure, ...fields }, message);
    }
  }
}
