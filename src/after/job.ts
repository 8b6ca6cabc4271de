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
    readonly entries: AfterEntry[],
  ) {}
}

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
