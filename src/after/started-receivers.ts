import type { HttpRequest } from '../http/request.js';
import { Waiters } from '../util/waiters.js';

/** An async `requestStarted` receiver still at work for a request. */
export interface RunningReceiver {
  name: string;
  request: HttpRequest;
}

/**
 * An app's async `requestStarted` receivers still at work (an audit write,
 * a lookup): work its requests caused, which `settle()` waits for as it
 * waits for their tasks. Empty, and never touched, while no receiver
 * returns a promise.
 */
export class StartedReceivers {
  readonly #running = new Set<RunningReceiver>();
  readonly #idleWaiters = new Waiters();

  /** `receiver`, called for `request`, returned `work`: kept until it settles (a rejection was handled already). */
  add(name: string, request: HttpRequest, work: PromiseLike<unknown>): void {
    const running: RunningReceiver = { name, request };
    this.#running.add(running);
    const settled = (): void => {
      this.#running.delete(running);
      if (this.#running.size === 0) this.#idleWaiters.wake();
    };
    // Promise.resolve: whatever a thenable's then() returned, it settles.
    Promise.resolve(work).then(settled, settled);
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
