import type { TaskSpan } from '../after/task-spans.js';
import type { HttpRequest } from '../http/request.js';
import type { StoredTask } from './store.js';

/**
 * Tracing of durable tasks, when the app (or `runWorker()`) turns `tracing`
 * on (src/observe/tracing.ts implements it): the trace context is journaled
 * with each task, so that every attempt, in whichever process, continues the
 * trace of the request that registered it.
 */
export interface DurableTracer {
  /** The trace context to journal with a task registered now, for `request` (null outside one); null when there is none. */
  inject(request: HttpRequest | null): Record<string, string> | null;
  /** The span of one attempt, child of the context journaled with the task. */
  startAttempt(task: StoredTask): TaskSpan;
  /** What OpenTelemetry lacks for attempts to continue their traces, said once (`Tracing.unregistered()`). */
  unregistered?(): string | undefined;
}
