import type { HttpRequest } from '../http/request.js';
import { waitAtMost } from '../util/bounded-wait.js';
import { Waiters } from '../util/waiters.js';

/** An async `requestStarted` receiver still at work for a request. */
export interface RunningReceiver {
  name: string;
  request: HttpRequest;
}

/**
 * An app's async `requestStarted` receivers still at work (an audit write,
 * a lookup): work its requests caused, which `settle()` waits for as it
 * waits for their tasks, at most as long as a task (`after.timeoutMs`): one
 * that never settles is let go then, logged, and holds neither `settle()`
 * nor its request for good. Empty, and never touched, while no receiver
 * returns a promise.
 */
export class StartedReceivers {
  readonly #running = new Set<RunningReceiver>();
  readonly #idleWaiters = new Waiters();
  readonly #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** `receiver`, called for `request`, returned `work`: kept until it settles (a rejection was handled already). */
  add(name: string, request: HttpRequest, work: PromiseLike<unknown>): void {
    const running: RunningReceiver = { name, request };
    this.#running.add(running);
    waitAtMost(work, this.#timeoutMs, () => {
      request.log.warn({ receiver: name }, `a requestStarted receiver still running after ${this.#timeoutMs} ms (after.timeoutMs): no longer waited for`);
    }, () => {
      this.#running.delete(running);
      if (this.#running.size === 0) this.#idleWaiters.wake();
    });
  }

  get idle(): boolean {
    return this.#running.size === 0;
  }

  whenIdle(): Promise<void> {
    return this.#idleWaiters.wait(this.idle);
  }

  /** The receivers still at work, as they are (a `settle()` that ran out of time names them). */
  unfinished(): readonly RunningReceiver[] {
    return [...this.#running];
  }
}
