/** Bucket upper bounds grow by this factor: a percentile is read to within about 15%. */
const FACTOR = 1.15;
/** The first bucket holds everything up to this many milliseconds. */
const FLOOR_MS = 0.1;
/** 0.1 ms × 1.15^99 ≈ 100 s; longer values fall in the last bucket. */
const BUCKETS = 100;
const LOG_FACTOR = Math.log(FACTOR);

/** A bucket's upper bound, in milliseconds. */
function bucketBound(index: number): number {
  return FLOOR_MS * FACTOR ** index;
}

function bucketOf(ms: number): number {
  if (!(ms > FLOOR_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / FLOOR_MS) / LOG_FACTOR));
}

/**
 * Durations over a sliding window, in fixed memory: `slots` time slots of
 * `slotMs`, each a count and (allocated once used) a log-scale histogram.
 * Old slots are reused as time moves on; nothing grows with traffic.
 */
export class WindowedHistogram {
  readonly #slotMs: number;
  /** Which slot (time / slotMs) each position holds now. */
  readonly #epochs: number[];
  readonly #counts: number[];
  readonly #buckets: (Uint32Array | undefined)[];

  constructor(slotMs: number, slots: number) {
    this.#slotMs = slotMs;
    this.#epochs = new Array<number>(slots).fill(-1);
    this.#counts = new Array<number>(slots).fill(0);
    this.#buckets = new Array<Uint32Array | undefined>(slots);
  }

  /** Records one value (a duration in ms, or NaN to count without a duration) at `now` (ms, any monotonic clock). */
  record(ms: number, now: number): void {
    const at = this.#slot(now);
    this.#counts[at]!++;
    if (Number.isNaN(ms)) return;
    const buckets = (this.#buckets[at] ??= new Uint32Array(BUCKETS));
    buckets[bucketOf(ms)]!++;
  }

  /** Values recorded within the last `windowMs` (whole slots; at most the histogram's span). */
  count(now: number, windowMs: number): number {
    let total = 0;
    this.#eachLive(now, windowMs, (at) => {
      total += this.#counts[at]!;
    });
    return total;
  }

  /** Values per second within the last `windowMs`. */
  rate(now: number, windowMs: number): number {
    return this.count(now, windowMs) / (windowMs / 1000);
  }

  /** The `p` quantile (0 to 1) of the durations within the last `windowMs`, as a bucket's upper bound; null with none. */
  quantile(p: number, now: number, windowMs: number): number | null {
    const merged = new Uint32Array(BUCKETS);
    let total = 0;
    this.#eachLive(now, windowMs, (at) => {
      const buckets = this.#buckets[at];
      if (buckets === undefined) return;
      for (let i = 0; i < BUCKETS; i++) {
        merged[i]! += buckets[i]!;
        total += buckets[i]!;
      }
    });
    if (total === 0) return null;
    const rank = Math.ceil(p * total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += merged[i]!;
      if (seen >= rank) return bucketBound(i);
    }
    return bucketBound(BUCKETS - 1);
  }

  /** The position of the slot for `now`, emptied if it held an older slot. */
  #slot(now: number): number {
    const epoch = Math.floor(now / this.#slotMs);
    const at = epoch % this.#epochs.length;
    if (this.#epochs[at] !== epoch) {
      this.#epochs[at] = epoch;
      this.#counts[at] = 0;
      this.#buckets[at]?.fill(0);
    }
    return at;
  }

  #eachLive(now: number, windowMs: number, visit: (at: number) => void): void {
    const newest = Math.floor(now / this.#slotMs);
    const slots = Math.min(this.#epochs.length, Math.max(1, Math.ceil(windowMs / this.#slotMs)));
    for (let epoch = newest - slots + 1; epoch <= newest; epoch++) {
      const at = ((epoch % this.#epochs.length) + this.#epochs.length) % this.#epochs.length;
      if (this.#epochs[at] === epoch) visit(at);
    }
  }
}
