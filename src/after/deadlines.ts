import { performance } from 'node:perf_hooks'; // not the global, a getter Node runs on every read
import { LinkedList } from '../util/linked-list.js';
import type { RunningTask } from './running-task.js';

/** The running async tasks with one timeout length, oldest first: their deadlines come in order. */
class Lane extends LinkedList<RunningTask> {
  timer: NodeJS.Timeout | undefined = undefined;
  constructor(readonly ms: number) {
    super();
  }
}

/**
 * The running async tasks and their timeouts: one timer per timeout length
 * (usually one, the app's), armed for the oldest task, instead of a
 * `setTimeout` per task. Tasks sit in an intrusive linked list, so a task
 * that settles leaves in O(1) and nothing is retained.
 */
export class Deadlines {
  readonly #lanes = new Map<number, Lane>();
  readonly #onExpire: (task: RunningTask, ms: number) => void;
  #size = 0;

  constructor(onExpire: (task: RunningTask, ms: number) => void) {
    this.#onExpire = onExpire;
  }

  /** Running async tasks. */
  get size(): number {
    return this.#size;
  }

  add(task: RunningTask, ms: number): void {
    let lane = this.#lanes.get(ms);
    if (lane === undefined) {
      lane = new Lane(ms);
      this.#lanes.set(ms, lane);
    }
    task.deadline = performance.now() + ms;
    task.lane = lane;
    lane.push(task);
    this.#size++;
    lane.timer ??= setTimeout(this.#expire, ms, lane);
  }

  /** Whether `task` is still running (not settled, timed out or abandoned). */
  has(task: RunningTask): boolean {
    return task.lane !== undefined;
  }

  remove(task: RunningTask): void {
    const lane = task.lane as Lane | undefined;
    if (lane === undefined) return;
    lane.remove(task);
    task.lane = undefined;
    this.#size--;
    // An empty lane's timer would only keep the process alive for nothing.
    if (lane.head === undefined && lane.timer !== undefined) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
  }

  /** Every running async task, oldest first within each timeout length. */
  *[Symbol.iterator](): Iterator<RunningTask> {
    for (const lane of this.#lanes.values()) yield* lane;
  }

  readonly #expire = (lane: Lane): void => {
    lane.timer = undefined;
    const now = performance.now();
    // A timer may fire a little early; a millisecond of slack keeps it from re-arming for nothing.
    while (lane.head !== undefined && lane.head.deadline <= now + 1) {
      const task = lane.head;
      this.remove(task);
      this.#onExpire(task, lane.ms);
    }
    if (lane.head !== undefined && lane.timer === undefined) {
      lane.timer = setTimeout(this.#expire, Math.max(1, lane.head.deadline - now), lane);
    }
  };
}
