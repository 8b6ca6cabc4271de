declare const adoptedBrand: unique symbol;

/**
 * A framework's request span that `Tracing.adopted()` found, for its request's
 * tasks (see tracing.ts's `giveAdoptedSpan`): opaque, and in a file of its
 * own, so that the types shipped with an adopted exchange need no
 * `@opentelemetry/api` (an optional peer).
 */
export type AdoptedSpan = { readonly [adoptedBrand]: true };
