import type { StreamLink } from './stream-link.js';

/** How the event stream behaves. */
export interface BroadcastSettings {
  /** How often a fresh snapshot is made while someone listens. */
  intervalMs: number;
  /** A comment line is sent after this long without a message, so proxies keep the connection open. */
  heartbeatMs: number;
  /** Event streams open at once; more are refused. */
  maxClients: number;
}

/**
 * One listener. It keeps at most one message waiting: a newer snapshot
 * replaces an unsent one, so a slow client costs one snapshot of memory, and
 * sees the latest state when it catches up.
 */
class Subscriber {
  /** The connection the stream is on. */
  readonly link: StreamLink;
  #waiting: string | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  /** A message was handed over and the next not yet asked for: the transport waits for the client to take it. */
  #handedOver = false;

  constructor(link: StreamLink) {
    this.link = link;
  }

  offer(message: string, replace: boolean): void {
    if (this.#closed || (!replace && this.#waiting !== undefined)) return;
    this.#waiting = message;
    this.#wake?.();
  }

  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  /**
   * Ends the stream for a server that is closing: gracefully when its client
   * keeps up; cut when it is behind (its last message still being handed
   * over, or bytes it has not taken), else the drain would wait on it until
   * its deadline, the client reading nothing (a tab asleep).
   */
  end(): void {
    this.close();
    if (this.#handedOver || this.link.backlog() > 0) this.link.cut();
  }

  /**
   * The messages, until closed or `allowed` says no: it is asked before each
   * message but the first (its stream was authorized as it opened), so a
   * client refused since is sent nothing more, not even a heartbeat.
   */
  async *messages(allowed: () => Promise<boolean>): AsyncGenerator<string> {
    let first = true;
    for (;;) {
      if (this.#waiting !== undefined) {
        if (!first && !(await allowed())) return;
        first = false;
        // The latest: a newer snapshot may have replaced it while `allowed` was asked.
        const message = this.#waiting;
        this.#waiting = undefined;
        this.#handedOver = true;
        yield message;
        this.#handedOver = false;
      } else if (this.#closed) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    }
  }
}

/**
 * Server-sent events to every open stream: one snapshot made per interval
 * (only while someone listens) and sent when it changed, a heartbeat comment
 * otherwise now and then. Streams are bounded in number, end when their
 * client goes away, and those of a server end at once when it begins to
 * close (`end()`).
 */
export class Broadcast {
  readonly #settings: BroadcastSettings;
  readonly #produce: () => Promise<string>;
  readonly #onError: (error: unknown) => void;
  readonly #subscribers = new Set<Subscriber>();
  #timer: NodeJS.Timeout | undefined;
  /** The last snapshot's data, and when anything was last sent. */
  #last: string | undefined;
  #lastSentAt = 0;
  #ticking = false;
  #tickAgain = false;

  constructor(settings: BroadcastSettings, produce: () => Promise<string>, onError: (error: unknown) => void) {
    this.#settings = settings;
    this.#produce = produce;
    this.#onError = onError;
  }

  /** Streams open now. */
  get size(): number {
    return this.#subscribers.size;
  }

  /** Whether another stream may open: false when `maxClients` are open. */
  get accepting(): boolean {
    return this.#subscribers.size < this.#settings.maxClients;
  }

  /**
   * A new stream on `link` (check `accepting` first); it ends
   * when `signal` aborts, when `allowed`, asked before each message but the
   * first, says no, or on `end()`.
   */
  subscribe(signal: AbortSignal, allowed: () => Promise<boolean>, link: StreamLink): AsyncGenerator<string> {
    const subscriber = new Subscriber(link);
    this.#subscribers.add(subscriber);
    const leave = (): void => {
      signal.removeEventListener('abort', leave);
      subscriber.close();
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0) this.#stop();
    };
    signal.addEventListener('abort', leave, { once: true });
    // The client reconnects after 2 s if the stream drops; the latest snapshot is sent at once.
    subscriber.offer(`retry: 2000\n\n${this.#last === undefined ? '' : event(this.#last)}`, true);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.refresh(), this.#settings.intervalMs);
      this.#timer.unref();
    }
    this.refresh();
    return stream(subscriber.messages(allowed), leave);
  }

  /** Makes a snapshot now and sends it if it changed (after a task was retried, say). */
  refresh(): void {
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    if (this.#subscribers.size === 0) return;
    this.#ticking = true;
    this.#produce().then((data) => this.#send(data), this.#onError).finally(() => {
      this.#ticking = false;
      if (this.#tickAgain) {
        this.#tickAgain = false;
        this.refresh();
      }
    });
  }

  #send(data: string): void {
    // Made for streams that have all gone since: kept, it would be the next page's first, stale.
    if (this.#subscribers.size === 0) return;
    const now = performance.now();
    if (data !== this.#last) {
      this.#last = data;
      this.#lastSentAt = now;
      for (const subscriber of this.#subscribers) subscriber.offer(event(data), true);
    } else if (now - this.#lastSentAt >= this.#settings.heartbeatMs) {
      this.#lastSentAt = now;
      for (const subscriber of this.#subscribers) subscriber.offer(': heartbeat\n\n', false);
    }
  }

  /** Ends the streams on `server`'s connections (every stream: `all`): it is closing, and an open stream must not hold its drain up, even one whose client reads nothing. */
  end(server: object | undefined, all: boolean): void {
    for (const subscriber of this.#subscribers) {
      if (!all && subscriber.link.server !== server) continue;
      subscriber.end();
      this.#subscribers.delete(subscriber);
    }
    if (this.#subscribers.size === 0) this.#stop();
  }

  /** No stream is left: no more snapshots, and the last one forgotten, else a page opened later (a reconnect) got it first, however old. */
  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#last = undefined;
  }
}

/** The messages, then `leave` however they end: refused, closed, or the client gone (the generator returned). */
async function* stream(messages: AsyncGenerator<string>, leave: () => void): AsyncGenerator<string> {
  try {
    yield* messages;
  } finally {
    leave();
  }
}

function event(data: string): string {
  return `event: snapshot\ndata: ${data}\n\n`;
}
