/** A fixed-capacity buffer of the latest items: pushing past capacity evicts the oldest. */
export class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(capacity);
  }

  /** Adds `item`; returns the item it evicted, if any. */
  push(item: T): T | undefined {
    const evicted = this.#size === this.#items.length ? this.#items[this.#next] : undefined;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    if (this.#size < this.#items.length) this.#size++;
    return evicted;
  }

  /** The items, newest first. */
  newestFirst(): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.#size; i++) out.push(this.#items[(this.#next - i + this.#items.length) % this.#items.length]!);
    return out;
  }
}
