import type { Outcome } from '../http/response.js';

/** An outcome as a store keeps it, a copy: its `error` as its name and message (an Error's own JSON is `{}`). */
export function storedOutcome(outcome: Outcome): Outcome {
  if (outcome.error === undefined) return { ...outcome };
  const { error } = outcome;
  return { ...outcome, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}

/** An outcome as the JSON a store keeps. */
export function outcomeJson(outcome: Outcome): string {
  return JSON.stringify(outcome.error === undefined ? outcome : storedOutcome(outcome));
}
