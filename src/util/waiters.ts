/** Promises that resolve together when `wake()` is called: "tell me when it is idle". */
export class Waiters {
  #resolvers: (() => void)[] = [];

  /** A promise that `wake()` resolves; `now` resolves it at once instead. */
  wait(now: boolean): Promise<void> {
    if (now) return Promise.resolve();
    return new Promise((resolve) => this.#resolvers.push(resolve));
  }

  wake(): void {
    if (this.#resolvers.length === 0) return;
    const resolvers = this.#resolvers;
    this.#resolvers = [];
    for (const resolve of resolvers) resolve();
  }
}
