import type { HttpRequest } from '../http/request.js';
import type { HttpResponse } from '../http/response.js';
import type { AfterContext, Outcome } from './types.js';
import type { Job } from './job.js';

/** What one task receives. The AbortController is made only if the task reads `signal` or must be aborted. */
export class TaskContext implements AfterContext {
  /** @internal */
  readonly job: Job;
  /** The task's name, for logs and reports. */
  readonly name: string;
  /** @internal The timeout of an async task. */
  timer: NodeJS.Timeout | undefined = undefined;
  #controller: AbortController | undefined;

  constructor(job: Job, name: string) {
    this.job = job;
    this.name = name;
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
