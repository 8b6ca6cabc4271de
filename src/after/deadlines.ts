import type { TaskContext } from './task-context.js';

/** The running async tasks with one timeout length, oldest first: their deadlines come in order. */
interface Lane {
  readonly ms: number;
  head: TaskContext | undefined;
  tail: TaskContext | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The running async tasks and their timeouts: one timer per timeout length
 * (usually one, the app's), armed for the oldest task, instead of a
 * `setTimeout` per task. Tasks sit in an intrusive doubly linked list, so a
 * task that settles leaves in O(1) and nothing is retained.
 */
export class Deadlines {
  readonly #lanes = new Map<number, Lane>();
  readonly #onExpire: (context: TaskContext, ms: number) => void;
  #size = 0;

  constructor(onExpire: (context: TaskContext, ms: number) => void) {
    this.#onExpire = onExpire;
  }

  /** Running async tasks. */
  get size(): number {
    return this.#size;
  }

  add(context: TaskContext, ms: number): void {
    let lane = this.#lanes.get(ms);
    if (lane === undefined) {
      lane = { ms, head: undefined, tail: undefined, timer: undefined };
      this.#lanes.set(ms, lane);
    }
    context.deadline = performance.now() + ms;
    context.lane = lane;
    context.previous = lane.tail;
    context.next = undefined;
    if (lane.tail === undefined) lane.head = context;
    else lane.tail.next = context;
    lane.tail = context;
    this.#size++;
    lane.timer ??= setTimeout(this.#expire, ms, lane);
  }

  /** Whether `context` is still running (not settled, timed out or abandoned). */
  has(context: TaskContext): boolean {
    return context.lane !== undefined;
  }

  remove(context: TaskContext): void {
    const lane = context.lane as Lane | undefined;
    if (lane === undefined) return;
    if (context.previous === undefined) lane.head = context.next;
    else context.previous.next = context.next;
    if (context.next === undefined) lane.tail = context.previous;
    else context.next.previous = context.previous;
    context.lane = context.previous = context.next = undefined;
    this.#size--;
    // An empty lane's timer would only keep the process alive for nothing.
    if (lane.head === undefined && lane.timer !== undefined) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
  }

  /** Every running async task, oldest first within each timeout length. */
  *[Symbol.iterator](): Iterator<TaskContext> {
    for (const lane of this.#lanes.values()) {
      for (let context = lane.head; context !== undefined; context = context.next) yield context;
    }
  }

  readonly #expire = (lane: Lane): void => {
    lane.timer = undefined;
    const now = performance.now();
    // A timer may fire a little early; a millisecond of slack keeps it from re-arming for nothing.
    while (lane.head !== undefined && lane.head.deadline <= now + 1) {
      const context = lane.head;
      this.remove(context);
      this.#onExpire(context, lane.ms);
    }
    if (lane.head !== undefined && lane.timer === undefined) {
      lane.timer = setTimeout(this.#expire, Math.max(1, lane.head.deadline - now), lane);
    }
  };
}
