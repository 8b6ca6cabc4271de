/** Resolves when `promise` does or when `deadline` (a `performance.now()` time) passes, whichever is first. */
export function untilDeadline(promise: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
  });
  return Promise.race([promise.then(() => undefined), expired]).finally(() => clearTimeout(timer));
}
