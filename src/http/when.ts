/** When an after-response task runs, by its response's outcome (`when`): the one list of its values. */
export const WHENS = ['always', 'completed', 'success'] as const;

export type When = (typeof WHENS)[number];

/** Whether `value` is one of WHENS (plain JavaScript may pass anything). */
export function isWhen(value: unknown): value is When {
  return (WHENS as readonly unknown[]).includes(value);
}
