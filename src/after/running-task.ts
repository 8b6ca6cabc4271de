import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import type { AfterContext, AfterEntry, HttpResponse } from '../http/response.js';
import { taskName } from './entries.js';
import type { Job } from './job.js';
import { TaskAbort, type ListenerThrew } from '../util/task-abort.js';
import type { TaskSpan } from './task-spans.js';

/**
 * A task while it runs: what the task receives (`AfterContext`) and, for an
 * async task, its place among the running (see deadlines.ts). One object for
 * both, so a task costs one allocation. The signal's controller is made only if
 * the task reads `signal` or must be aborted.
 */
export class RunningTask implements AfterContext {
  /** @internal */
  readonly job: Job;
  /** @internal */
  readonly entry: AfterEntry;
  /** @internal When it started (`performance.now()` ms), read only while task ends are observed; else 0. */
  startedAt = 0;
  /** @internal Its trace span, when the app traces. */
  span: TaskSpan | undefined = undefined;
  /** @internal When an async task times out (`performance.now()` ms). */
  deadline = 0;
  /** @internal Set while an async task runs: its lane among the running (see deadlines.ts). */
  lane: object | undefined = undefined;
  /** @internal */
  previous: RunningTask | undefined = undefined;
  /** @internal */
  next: RunningTask | undefined = undefined;
  #abort: TaskAbort | undefined;

  constructor(job: Job, entry: AfterEntry) {
    this.job = job;
    this.entry = entry;
  }

  /** The task's name, for logs and reports (worked out only when asked for). */
  get name(): string {
    return taskName(this.entry);
  }

  get request(): HttpRequest {
    return this.job.request;
  }

  get response(): HttpResponse {
    return this.job.sent();
  }

  get outcome(): Outcome {
    return this.job.outcome!;
  }

  get signal(): AbortSignal {
    return (this.#abort ??= new TaskAbort()).signal;
  }

  /** @internal Aborts its signal; what an abort listener throws goes to `threw` (see TaskAbort). */
  abort(reason: Error, threw: ListenerThrew): void {
    (this.#abort ??= new TaskAbort()).abort(reason, threw);
  }
}
