import { isPromise } from './is-promise.js';

// Node's own listener shapes (the project has no DOM types).
type Handler = (this: unknown, event: Event) => unknown;
type Listener = Handler | { handleEvent(event: Event): unknown };
/** As Node's typings name a listener: null and the rest pass through, for Node to refuse or ignore. */
type NodeListener = Parameters<EventTarget['addEventListener']>[1];
/** Told what an abort listener threw (or an async one rejected with) while the task was aborted. */
export type ListenerThrew = (error: unknown) => void;

const { addEventListener, removeEventListener } = EventTarget.prototype;
const onabort = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'onabort')!;

/**
 * A task's AbortController (an after-response task's, a durable attempt's).
 * Node's EventTarget reports an `'abort'` listener that throws (or an async
 * one that rejects) as an uncaught exception, which ends the process: while
 * `abort()` runs, each listener of the task's signal (and its `onabort`) is
 * called in a try, and what it throws is handed to `abort()`'s caller, to
 * report as the task's; the other listeners run as before. The signal stays
 * a real AbortSignal (fetch and streams take it). A listener on a signal
 * derived from it (`AbortSignal.any()`) is Node's, not guarded.
 */
export class TaskAbort {
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  /** Each listener's wrapper, one per listener: adding the same one twice stays a no-op, and removing it works. */
  readonly #wrappers = new WeakMap<object, Handler>();
  /** Set while `abort()` runs (and for an async listener's later rejection): a listener's throw goes there. */
  #threw: ListenerThrew | undefined = undefined;
  #handler: unknown = null;

  constructor() {
    const signal = this.#controller.signal;
    this.signal = signal;
    // Own properties of this signal only: AbortSignal's prototype, every other signal's, is left alone.
    Object.defineProperties(signal, {
      addEventListener: {
        configurable: true,
        writable: true,
        value: (type: string, listener: Listener | null, options?: boolean | object) =>
          addEventListener.call(signal, type, (type === 'abort' ? this.#wrap(listener) : listener) as NodeListener, options),
      },
      removeEventListener: {
        configurable: true,
        writable: true,
        value: (type: string, listener: Listener | null, options?: boolean | object) =>
          removeEventListener.call(signal, type, (type === 'abort' && listener !== null ? (this.#wrappers.get(listener) ?? listener) : listener) as NodeListener, options),
      },
      onabort: {
        configurable: true,
        enumerable: true,
        get: () => this.#handler,
        set: (value: unknown) => {
          // As Node's own: undefined reads back as null.
          this.#handler = value ?? null;
          onabort.set!.call(signal, typeof value === 'function' ? this.#wrap(value as Listener) : value);
        },
      },
    });
  }

  /** Aborts the signal with `reason`; what its listeners throw goes to `threw`, never to the process. */
  abort(reason: Error, threw: ListenerThrew): void {
    this.#threw = threw;
    try {
      this.#controller.abort(reason);
    } finally {
      // An async listener's rejection still comes here (#call keeps `threw`); a user's own dispatchEvent later is Node's.
      this.#threw = undefined;
    }
  }

  #wrap(listener: Listener | null): Listener | null {
    // Anything else is Node's to refuse or ignore, as it would be.
    if (listener === null || (typeof listener !== 'function' && typeof listener !== 'object')) return listener;
    let wrapper = this.#wrappers.get(listener);
    if (wrapper === undefined) {
      const call = this.#call;
      wrapper = function (this: unknown, event: Event) {
        return call(listener, this, event);
      };
      this.#wrappers.set(listener, wrapper);
    }
    return wrapper;
  }

  readonly #call = (listener: Listener, self: unknown, event: Event): unknown => {
    const threw = this.#threw;
    const run = (): unknown => (typeof listener === 'function' ? listener.call(self, event) : listener.handleEvent(event));
    // Not inside abort(): a dispatchEvent of the user's own, which behaves as Node makes it.
    if (threw === undefined) return run();
    try {
      const result = run();
      // Handled here, so Node attaches no handler of its own that would make the rejection uncaught.
      if (isPromise(result)) Promise.resolve(result).then(undefined, threw);
    } catch (error) {
      threw(error);
    }
    return undefined;
  };
}
