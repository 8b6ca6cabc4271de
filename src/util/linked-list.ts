/** An item that can sit in one `LinkedList` at a time: the list keeps its links on it. */
export interface Linked<T> {
  previous: T | undefined;
  next: T | undefined;
}

/**
 * An intrusive doubly linked list: O(1) add and remove with no allocation
 * and no hashing, for sets of live objects that come and go on a hot path.
 */
export class LinkedList<T extends Linked<T>> implements Iterable<T> {
  head: T | undefined = undefined;
  tail: T | undefined = undefined;
  size = 0;

  push(item: T): void {
    item.previous = this.tail;
    item.next = undefined;
    if (this.tail === undefined) this.head = item;
    else this.tail.next = item;
    this.tail = item;
    this.size++;
  }

  /** Removes `item`, which must be in this list. */
  remove(item: T): void {
    if (item.previous === undefined) this.head = item.next;
    else item.previous.next = item.next;
    if (item.next === undefined) this.tail = item.previous;
    else item.next.previous = item.previous;
    item.previous = item.next = undefined;
    this.size--;
  }

  /** Every item, oldest first; removing the current item while iterating is safe. */
  *[Symbol.iterator](): Iterator<T> {
    for (let item = this.head; item !== undefined;) {
      const next = item.next;
      yield item;
      item = next;
    }
  }
}
