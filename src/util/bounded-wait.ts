/**
 * Calls `done` once `work` settles, or once `timeoutMs` has passed without
 * it (`late` first): work the app waits for (an error report, a receiver)
 * that never ends holds nothing for good. The timer keeps no process alive;
 * `done` is called once.
 */
export function waitAtMost(work: PromiseLike<unknown>, timeoutMs: number, late: () => void, done: () => void): void {
  let waiting = true;
  const finish = (): void => {
    if (!waiting) return;
    waiting = false;
    clearTimeout(timer);
    done();
  };
  const timer = setTimeout(() => {
    late();
    finish();
  }, timeoutMs);
  timer.unref();
  // Promise.resolve: a thenable that calls back at once, or whose `then` throws, settles later all the same.
  Promise.resolve(work).then(finish, finish);
}
