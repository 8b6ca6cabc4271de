/** Waits for every call, then throws the first failure, if any: what the others wrote is known by then. */
export async function awaitEvery(calls: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(calls)).find((end) => end.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
