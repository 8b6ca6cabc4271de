import type { Logger } from 'pino';
import type { TaskSpan } from '../after/task-spans.js';
import type { Outcome } from '../http/outcome.js';
import { TaskAbort, type ListenerThrew } from '../util/task-abort.js';
import type { RequestSnapshot, StoredTask } from './store.js';
import type { TaskContext } from './task.js';

/**
 * One attempt of a durable task while it runs: what the task receives
 * (`TaskContext`) and the runner's record of it, one object for both. The
 * logger and the signal's controller are made only if the task asks for them
 * (a pino child logger costs more than the rest of an attempt's start).
 */
export class Attempt implements TaskContext {
  /** @internal */
  readonly stored: StoredTask;
  /** @internal Its trace span, when tracing is on. */
  span: TaskSpan | undefined = undefined;
  readonly #logger: Logger;
  #log: Logger | undefined;
  #abort: TaskAbort | undefined;

  constructor(stored: StoredTask, logger: Logger) {
    this.stored = stored;
    this.#logger = logger;
  }

  get id(): string {
    return this.stored.id;
  }

  get name(): string {
    return this.stored.name;
  }

  get attempt(): number {
    return this.stored.attempt;
  }

  get request(): RequestSnapshot | null {
    return this.stored.request;
  }

  get outcome(): Outcome | null {
    return this.stored.outcome;
  }

  get log(): Logger {
    const { id, name, request } = this.stored;
    return (this.#log ??= this.#logger.child(request === null ? { taskId: id, task: name } : { taskId: id, task: name, requestId: request.id }));
  }

  get signal(): AbortSignal {
    return (this.#abort ??= new TaskAbort()).signal;
  }

  /** @internal Aborts `ctx.signal`; what an abort listener throws goes to `threw` (see TaskAbort). */
  abort(reason: Error, threw: ListenerThrew): void {
    (this.#abort ??= new TaskAbort()).abort(reason, threw);
  }
}
