/**
 * A signal sent to a whole process group (Ctrl-C's SIGINT, a service
 * manager's SIGTERM to every process of a unit) reaches a cluster worker and
 * its primary at once, and the primary's word to shut down, sent on it, may
 * reach the worker before the worker's own copy does. That copy is the signal
 * the worker is acting on already, not a second one (which exits at once):
 * the worker names the signal its primary's word came with
 * (`expectGroupCopy`), and one copy of it within a short window is nothing new
 * (`isGroupCopy`). A real second Ctrl-C still exits at once: it reaches the
 * worker again, and through the primary.
 */
let expected: { signal: NodeJS.Signals; until: number } | undefined;

/** How long after the primary's word its group's copy may come: it was on its way before the word was sent. */
const WINDOW_MS = 2_000;

/** The primary's word came with `signal`: one copy of it from now until the window ends is no second signal. */
export function expectGroupCopy(signal: NodeJS.Signals): void {
  expected = { signal, until: performance.now() + WINDOW_MS };
}

/** No copy is expected any more: the primary passes a second signal on, which is one. */
export function forgetGroupCopy(): void {
  expected = undefined;
}

/** Whether `signal`, come after the process began to shut down, is the copy expected (see `expectGroupCopy`): true once at most. */
export function isGroupCopy(signal: NodeJS.Signals): boolean {
  if (expected === undefined || expected.signal !== signal) return false;
  const copy = performance.now() <= expected.until;
  expected = undefined;
  return copy;
}
