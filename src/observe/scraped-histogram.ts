/** One sample of a metric as a prom-client `Registry` formats it (prom-client's own metrics give the same). */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/** What a registry reads of a histogram when scraped: `metrics()` calls `getForPromString()`, `getMetricsAsJSON()` calls `get()`. */
interface Scrape {
  name: string;
  help: string;
  type: 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

/** One label set's observations: counts by bucket (each bucket its own, not cumulative), their sum and count. */
export class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly #owner: ScrapedHistogram;
  readonly #bounds: readonly number[];
  /** One per upper bound; a value above the last one is only in `count` (the `+Inf` bucket). */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(owner: ScrapedHistogram, bounds: readonly number[], labels: Record<string, string>) {
    this.#owner = owner;
    this.#bounds = bounds;
    this.labels = labels;
    this.buckets = new Float64Array(bounds.length);
  }

  /** As prom-client's `observe()`: the first bucket whose upper bound is at least `value`. */
  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
    this.sum += value;
    if (this.count++ === 0) this.#owner.shown(this);
  }

  clear(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/**
 * A histogram with labels whose observations are plain additions to a
 * series found once per label set (no label validation, hashing or
 * allocation per observation, as prom-client's `observe()` does), made into
 * samples only when the registry is scraped. Registered in a prom-client
 * `Registry` as one of its own metrics: the text it yields is what a
 * prom-client `Histogram` with the same name, help, labels, buckets and
 * observations yields (test/observe/metrics.test.ts compares them).
 */
export class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #bounds: readonly number[];
  /** Every label set seen, by its values joined. */
  readonly #series = new Map<string, HistogramSeries>();
  /** The series with observations since the last reset, in the order of their first: the order prom-client shows them in. */
  #shown: HistogramSeries[] = [];

  constructor(config: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.#bounds = config.buckets;
  }

  /** The series of these label values (in `labelNames` order); keep it, as finding it builds a key. */
  series(...values: string[]): HistogramSeries {
    const key = values.join('\0');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => { labels[name] = values[i]!; });
      this.#series.set(key, series = new HistogramSeries(this, this.#bounds, labels));
    }
    return series;
  }

  /** @internal A series had its first observation since the last reset. */
  shown(series: HistogramSeries): void {
    this.#shown.push(series);
  }

  /** `registry.resetMetrics()`: every series back to none, as prom-client's own. */
  reset(): void {
    for (const series of this.#shown) series.clear();
    this.#shown = [];
  }

  /** The samples, each with its series' labels apart (`sharedLabels`), as prom-client's `Histogram` gives them. */
  async getForPromString(): Promise<Scrape> {
    const bucketName = `${this.name}_bucket`;
    const values: Sample[] = [];
    for (const series of this.#shown) {
      const shared = series.labels;
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += series.buckets[i]!;
        values.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: bucketName, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: series.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The samples with their series' labels merged in (`registry.getMetricsAsJSON()`). */
  async get(): Promise<Omit<Scrape, 'values'> & { values: Omit<Sample, 'sharedLabels'>[] }> {
    const scrape = await this.getForPromString();
    return {
      ...scrape,
      values: scrape.values.map(({ sharedLabels, labels, ...sample }) => ({ ...sample, labels: { ...labels, ...sharedLabels } })),
    };
  }
}
