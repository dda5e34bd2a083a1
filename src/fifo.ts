// A queue with O(1) push, shift and pop. Array#shift is O(n), and the broker's work queue and
// every socket's send queue can hold hundreds of thousands of entries.

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact once the consumed prefix dominates, keeping memory proportional to the live part.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  /** Takes the newest element. */
  pop(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items.pop();
    if (this.head >= this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return x;
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  /** Removes every element for which `drop` is true, keeping order. */
  remove(drop: (x: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: (T | undefined)[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const x = this.items[i] as T;
      if (drop(x)) removed.push(x);
      else kept.push(x);
    }
    this.items = kept;
    this.head = 0;
    return removed;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
