/** A FIFO queue over an array with a moving head: O(1) push and shift, no per-item node. */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Reclaim the consumed prefix once it is half the array.
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Every item, oldest first, left in place. */
  items(): T[] {
    return this.#items.slice(this.#head) as T[];
  }

  /** Removes and returns every item, oldest first. */
  takeAll(): T[] {
    const items = this.items();
    this.#items = [];
    this.#head = 0;
    return items;
  }
}
