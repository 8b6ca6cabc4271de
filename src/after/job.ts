import type { HttpRequest } from '../http/request.js';
import type { Outcome } from '../http/outcome.js';
import type { AfterEntry, HttpResponse } from '../http/response.js';
import type { TaskEntry, TaskRegistration } from '../http/task-entry.js';

/**
 * A request's after-response work as the scheduler sees it (an `Exchange`
 * once its response is done): its tasks start in registration order, tasks
 * added later join the end. It is also what AsyncLocalStorage carries for
 * `after()`.
 */
export interface Job {
  readonly request: HttpRequest;
  readonly response: HttpResponse | undefined;
  readonly outcome: Outcome | undefined;
  /** The response sent, as its tasks see it: once the response is done. */
  sent(): HttpResponse;
  /** Every task of the job, in start order. */
  readonly entries: readonly AfterEntry[];
  /** The next entry to start. */
  index: number;
  /** In the scheduler's queue: some entry has yet to start. */
  queued: boolean;
  /** Keeps the first `count` entries: the rest were dropped at a full queue. */
  truncate(count: number): void;
  /** `after()`: registers a task for this request. */
  add(entry: AfterEntry): void;
  /** Shutdown gave up on the job's tasks (its deadline passed as they ran or waited): a task `after()` registers later is not run, told as lost. */
  giveUp(): void;
  /** The app's `tasks.payloadLimit`: a durable task's payload is refused as soon as it is found larger. */
  readonly payloadLimit: number;
  /** `after(task, payload)`: registers a durable task for this request. */
  addTask(entry: TaskEntry): Promise<TaskRegistration>;
  /** `response.after()` gave `response` a task in this request: it runs for this request alone, even if a middleware replaces the response. */
  give(response: HttpResponse, entry: AfterEntry): void;
  /** The same for a durable task: journaled with the response sent. */
  giveTask(response: HttpResponse, entry: TaskEntry): void;
}

/**
 * A durable registration of a request: journaled before the response's first
 * byte, released with the outcome once the response is done.
 */
export interface Hold {
  /** Settles once the registration is in the store (rejects if the store could not take it). */
  readonly journaled: Promise<unknown>;
  release(outcome: Outcome): void;
}
