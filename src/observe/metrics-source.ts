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
