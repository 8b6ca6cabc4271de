import type { Outcome } from '../http/response.js';

/** An outcome as a store keeps it: its `error` as its name and message (an Error's own JSON is `{}`). */
export function outcomeJson(outcome: Outcome): string {
  if (outcome.error === undefined) return JSON.stringify(outcome);
  const { error } = outcome;
  return JSON.stringify({ ...outcome, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
}
