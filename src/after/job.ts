import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import type { AfterEntry, Outcome } from './types.js';

/**
 * The after-response work of one response: its tasks start in registration
 * order; tasks registered later (from a task, or once the response is done)
 * join the end.
 */
export class Job {
  /** The next entry to start. */
  index = 0;
  /** In the scheduler's queue: some entry has yet to start. */
  queued = false;

  constructor(
    readonly request: HttpRequest,
    readonly response: HttpResponse,
    readonly outcome: Outcome,
    /** Shared and empty (`NO_ENTRIES`) until a task is added to a job that had none. */
    public entries: readonly AfterEntry[],
  ) {}

  add(entry: AfterEntry): void {
    if (this.entries === NO_ENTRIES) this.entries = [entry];
    else (this.entries as AfterEntry[]).push(entry);
  }
}

/** The entries of a response with no after-response work: most responses, so no array each. */
export const NO_ENTRIES: readonly AfterEntry[] = Object.freeze([]);

/** A task's name for logs and reports: its option, else its function's name. */
export function taskName(entry: AfterEntry): string {
  return entry.options?.name ?? (entry.task.name || 'anonymous');
}

/** Whether `when` lets the task run for this outcome. */
export function shouldRun(entry: AfterEntry, outcome: Outcome): boolean {
  const when = entry.options?.when;
  if (when === undefined || when === 'always') return true;
  if (when === 'completed') return outcome.completed;
  return outcome.completed && outcome.status >= 200 && outcome.status < 400;
}
