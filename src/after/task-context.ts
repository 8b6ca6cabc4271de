import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import { taskName, type Job } from './job.js';
import type { AfterContext, AfterEntry, Outcome } from './types.js';

/** What one task receives. The AbortController is made only if the task reads `signal` or must be aborted. */
export class TaskContext implements AfterContext {
  /** @internal */
  readonly job: Job;
  /** @internal When an async task times out (`performance.now()` ms). */
  deadline = 0;
  /** @internal Set while an async task runs: its place among the running (see deadlines.ts). */
  lane: object | undefined = undefined;
  /** @internal */
  previous: TaskContext | undefined = undefined;
  /** @internal */
  next: TaskContext | undefined = undefined;
  /** @internal */
  readonly entry: AfterEntry;
  #controller: AbortController | undefined;

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
    return this.job.response;
  }

  get outcome(): Outcome {
    return this.job.outcome;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  abort(reason: Error): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }
}
