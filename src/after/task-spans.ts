import type { HttpRequest } from '../http/request.js';

/**
 * A task's trace span while it runs (OpenTelemetry's, when the app turns
 * `tracing` on; see src/observe/tracing.ts). The scheduler and the durable
 * runner know tasks only through this, so neither loads OpenTelemetry.
 */
export interface TaskSpan {
  /** Calls `fn(arg)` with the span active: what the task calls (a fetch, a query) becomes its child. */
  run<A, R>(fn: (arg: A) => R, arg: A): R;
  /** The task ended (a durable attempt: `retrying` when another is due): records how, then ends the span. */
  end(state: 'completed' | 'failed' | 'timedOut' | 'abandoned' | 'retrying', error?: unknown): void;
}

/** Starts the span of an after-response task of `request`, named for `name`. */
export interface TaskTracer {
  startTask(name: string, request: HttpRequest): TaskSpan;
}
