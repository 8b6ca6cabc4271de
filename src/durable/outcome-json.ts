import type { Outcome } from '../http/outcome.js';
import { thrownMessage } from './errors.js';

/** An outcome as a store keeps it, a copy: its `error` as text (an Error's own JSON is `{}`). */
export function storedOutcome(outcome: Outcome): Outcome {
  return outcome.error === undefined ? { ...outcome } : { ...outcome, error: thrownMessage(outcome.error) };
}

/** An outcome as the JSON a store keeps. */
export function outcomeJson(outcome: Outcome): string {
  return JSON.stringify(outcome.error === undefined ? outcome : storedOutcome(outcome));
}
