import type { InspectOptions } from 'node:util';

/**
 * What `util.inspect()` hands a custom inspector (`[inspect.custom]`): its
 * options and `stylize()`. Named here, not imported: @types/node 22 calls it
 * `InspectOptionsStylized`, and the newest (26) `InspectContext` only, so a
 * published type naming either failed to compile (TS2305) for a user of the
 * other.
 */
export interface StylizedInspectOptions extends InspectOptions {
  stylize(text: string, styleType: 'special'): string;
}
