import type { HttpRequest } from '../http/request.js';
import type { AfterContext, AfterEntry } from './types.js';

export type RequestStartedReceiver = (event: { request: HttpRequest }) => void | Promise<void>;
/** Receives `{ request, response, outcome }` (and the task's `signal`) after each response. */
export type RequestFinishedReceiver = (event: AfterContext) => void | Promise<void>;

/**
 * A signal with receivers, like Django's `request_started`/`request_finished`.
 * `connect` returns the function that disconnects.
 */
export class Signal<Receiver extends (event: never) => unknown> {
  readonly #name: string;
  #receivers: Receiver[] = [];
  /** @internal The receivers as after-response entries, rebuilt on connect/disconnect. */
  entries: AfterEntry[] = [];

  constructor(name: string) {
    this.#name = name;
  }

  connect(receiver: Receiver): () => void {
    if (typeof receiver !== 'function') throw new TypeError(`signals.${this.#name}.connect() takes a function, got ${typeof receiver}`);
    if (!this.#receivers.includes(receiver)) this.#update([...this.#receivers, receiver]);
    return () => {
      this.disconnect(receiver);
    };
  }

  /** Returns whether the receiver was connected. */
  disconnect(receiver: Receiver): boolean {
    const before = this.#receivers.length;
    this.#update(this.#receivers.filter((r) => r !== receiver));
    return this.#receivers.length < before;
  }

  get receivers(): readonly Receiver[] {
    return this.#receivers;
  }

  #update(receivers: Receiver[]): void {
    this.#receivers = receivers;
    this.entries = receivers.map((receiver) => ({
      task: receiver as unknown as AfterEntry['task'],
      options: { name: `${this.#name}:${receiver.name || 'receiver'}` },
    }));
  }
}

/**
 * Sends `requestStarted`: every receiver is called, one that throws or
 * rejects is logged with the request id and the others still run.
 */
export function sendRequestStarted(request: HttpRequest): void {
  for (const receiver of signals.requestStarted.receivers) {
    try {
      const result = receiver({ request });
      if (result instanceof Promise) result.catch((error: unknown) => logReceiverFailure(request, receiver, error));
    } catch (error) {
      logReceiverFailure(request, receiver, error);
    }
  }
}

function logReceiverFailure(request: HttpRequest, receiver: RequestStartedReceiver, error: unknown): void {
  request.log.error({ err: error, receiver: receiver.name || 'receiver' }, 'a requestStarted receiver failed');
}

/** Process-wide signals, as in Django. */
export const signals = {
  requestStarted: new Signal<RequestStartedReceiver>('requestStarted'),
  /** Runs through the after-response scheduler: isolated, timed, counted like any task. */
  requestFinished: new Signal<RequestFinishedReceiver>('requestFinished'),
};
