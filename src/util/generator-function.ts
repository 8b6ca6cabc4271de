/**
 * Refuses a generator function (sync or async) where the work is done by
 * calling the function (an after-response task, a durable task): a call runs
 * none of its body, which runs only as its iterator is read, so such a task
 * "completed" with nothing done.
 */
export function refuseGeneratorFunction(where: string, fn: (...args: never[]) => unknown): void {
  const kind = (fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  if (kind !== 'GeneratorFunction' && kind !== 'AsyncGeneratorFunction') return;
  const what = `${kind === 'AsyncGeneratorFunction' ? 'an async generator' : 'a generator'} function${fn.name === '' ? '' : ` (${fn.name})`}`;
  throw new TypeError(`${where} takes a function whose call does the work, got ${what}: calling it runs none of its body (it runs only as its iterator is read); pass async () => { ... }`);
}
