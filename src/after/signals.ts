import type { HttpRequest } from '../http/request.js';
import type { AfterContext, AfterEntry } from '../http/response.js';
import { kEntries } from '../symbols.js';
import { safeLog } from '../log/safe-log.js';
import { describe } from '../util/describe.js';
import { checkWorkFunction } from '../util/work-function.js';
import { isPromise } from '../util/is-promise.js';
import { ownEntry } from './entries.js';
import type { StartedReceivers } from './started-receivers.js';

/** Receives `{ request }` as each request the app admits starts, before any middleware; one that throws or rejects is logged. */
export type RequestStartedReceiver = (event: { request: HttpRequest }) => void | PromiseLike<unknown>;
/** Receives `{ request, response, outcome }` (and the task's `signal`) after each response. */
export type RequestFinishedReceiver = (event: AfterContext) => void | PromiseLike<unknown>;

/**
 * A signal with receivers, like Django's `request_started`/`request_finished`.
 * `connect` returns the function that disconnects.
 *
 * @example
 * ```ts
 * const disconnect = app.signals.requestFinished.connect(({ request, outcome }) => {
 *   audit.record(request.path, outcome.status);
 * });
 * ```
 */
export class Signal<Receiver extends (event: never) => unknown> {
  readonly #name: string;
  #receivers: readonly Receiver[] = [];
  #entries: AfterEntry[] = [];

  constructor(name: string) {
    this.#name = name;
  }

  connect(receiver: Receiver): () => void {
    if (typeof receiver !== 'function') throw new TypeError(`signals.${this.#name}.connect() takes a function, got ${describe(receiver)}`);
    checkWorkFunction(`signals.${this.#name}.connect()`, receiver);
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

  /** @internal The receivers as after-response entries, rebuilt on connect and disconnect. */
  get [kEntries](): readonly AfterEntry[] {
    return this.#entries;
  }

  #update(receivers: Receiver[]): void {
    // Frozen: a receiver pushed onto the list it hands out would never run, as the entries are built here.
    this.#receivers = Object.freeze(receivers);
    this.#entries = receivers.map((receiver) => ownEntry(receiver as unknown as AfterEntry['task'], `${this.#name}:${receiverName(receiver)}`));
  }
}

/** A receiver's name for logs and task names; 'receiver' when it has none that is a string, or reading it throws. */
function receiverName(receiver: (event: never) => unknown): string {
  try {
    // A `name` getter of the user's that throws (or a Symbol) threw in connect(), with the receiver half connected, and failed every request.
    const { name } = receiver;
    return typeof name === 'string' && name !== '' ? name : 'receiver';
  } catch {
    return 'receiver';
  }
}

/** `requestStarted` and `requestFinished`: each app has its own (`app.signals`), and the process has one set (`signals`). */
export interface Signals {
  readonly requestStarted: Signal<RequestStartedReceiver>;
  /** Runs through the after-response scheduler: isolated, timed, counted like any task. */
  readonly requestFinished: Signal<RequestFinishedReceiver>;
}

/** A fresh pair of signals, no receiver connected: the process's, and each app's own. */
export function createSignals(): Signals {
  return {
    requestStarted: new Signal<RequestStartedReceiver>('requestStarted'),
    requestFinished: new Signal<RequestFinishedReceiver>('requestFinished'),
  };
}

/**
 * The process-wide signals, as in Django: a receiver connected here fires for
 * every request of every app in the process (and shows in every test client's
 * `tasks`). Connect to `app.signals` to hear one app only.
 */
export const signals: Signals = createSignals();

/**
 * Sends `requestStarted`, the app's receivers first, then the process's: every
 * receiver is called, one that throws or rejects is logged with the request
 * id and the others still run. An async one is kept in `running` until it
 * settles.
 */
export function sendRequestStarted(request: HttpRequest, own: Signals, running: StartedReceivers): void {
  // Both lists read before any receiver runs, as Django's send(): one that connects or disconnects a process-wide receiver changes the next request, not this one.
  const receivers = own.requestStarted.receivers.concat(signals.requestStarted.receivers);
  for (const receiver of receivers) callStarted(receiver, request, running);
}

function callStarted(receiver: RequestStartedReceiver, request: HttpRequest, running: StartedReceivers): void {
  try {
    const result = receiver({ request });
    // Any thenable, as the pipeline accepts: a rejected one is reported like a throw.
    if (isPromise(result)) running.add(receiverName(receiver), request, result.then(undefined, (error: unknown) => logReceiverFailure(request, receiver, error)));
  } catch (error) {
    logReceiverFailure(request, receiver, error);
  }
}

function logReceiverFailure(request: HttpRequest, receiver: RequestStartedReceiver, error: unknown): void {
  // Through a safe log: a thrown value pino cannot read (a Proxy) fails no request, and the next receivers run.
  safeLog(request.log).error({ err: error, receiver: receiverName(receiver) }, 'a requestStarted receiver failed');
}

/** The `requestFinished` receivers of an app and of the process, as entries in a new array; undefined when there are none. */
export function finishedEntries(own: Signals): AfterEntry[] | undefined {
  const mine = own.requestFinished[kEntries];
  const everyone = signals.requestFinished[kEntries];
  if (mine.length === 0 && everyone.length === 0) return undefined;
  return mine.concat(everyone);
}
