/**
 * Resolves when `promise` does (with true) or when `deadline` (a
 * `performance.now()` time) passes (with false), whichever is first.
 */
export function untilDeadline(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - performance.now()), false);
  });
  return Promise.race([promise.then(() => true), expired]).finally(() => clearTimeout(timer));
}
