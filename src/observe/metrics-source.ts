/**
 * What the gauges read from an app when the registry is scraped. Its own
 * file, without prom-client's types: the app's published types name it, and
 * must type-check where prom-client (an optional peer) is not installed.
 */
export interface MetricsSource {
  /** The after-response scheduler's counts. */
  after(): { pending: number; running: number };
  /** The durable tasks' counts in the store; undefined when the app has none. */
  durable(): Promise<{ pending: number; running: number }> | undefined;
}

/** The durable counts the gauges show, from a store's stats: pending is held, ready and delayed. */
export function durableCounts({ held, ready, delayed, running }: { held: number; ready: number; delayed: number; running: number }): { pending: number; running: number } {
  return { pending: held + ready + delayed, running };
}
