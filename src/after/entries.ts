import type { Outcome } from '../http/outcome.js';
import type { AfterEntry } from '../http/response.js';
import type { When } from '../http/when.js';

/** The entries of a response with no after-response work: most responses, so no array each. */
export const NO_ENTRIES: readonly AfterEntry[] = Object.freeze([]);

/** A task's name for logs and reports: its option, else (absent or empty) its function's name. */
export function taskName(entry: AfterEntry): string {
  const named = entry.options?.name;
  if (named) return named;
  try {
    // A `name` getter of the user's that throws would throw in the scheduler, as it reports the task.
    return entry.task.name || 'anonymous';
  } catch {
    return 'anonymous';
  }
}

/** Whether `when` lets the task run for this outcome. */
export function shouldRun(entry: AfterEntry, outcome: Outcome): boolean {
  return whenAllows(entry.options?.when, outcome);
}

/** `'always'` (or nothing) runs whatever happened; `'completed'` unless the client went first; `'success'` only for a completed 2xx or 3xx. */
export function whenAllows(when: When | undefined, outcome: Outcome): boolean {
  if (when === undefined || when === 'always') return true;
  if (when === 'completed') return outcome.completed;
  return outcome.completed && outcome.status >= 200 && outcome.status < 400;
}

/** An entry for a signal's receiver, work Coda registers itself: it runs in the request's own context. */
export function ownEntry(task: AfterEntry['task'], name: string): AfterEntry {
  return { task, options: { name }, scope: undefined };
}

/** `a` then `b`: one of them as it is when the other is empty, else a new array. */
export function join(a: readonly AfterEntry[] | undefined, b: readonly AfterEntry[] | undefined): readonly AfterEntry[] | undefined {
  if (a === undefined || a.length === 0) return b;
  return b === undefined || b.length === 0 ? a : a.concat(b);
}
