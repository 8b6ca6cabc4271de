/**
 * The jobs a claim's fetches moved to active, each locked for it. A claim cut
 * short by its deadline may have fetches still under way: each job one of
 * them brings after the cut is handed at once to what the cut named, to be
 * given back. Left active, it waited for BullMQ's stall check (half a lease)
 * before anyone could run it.
 */
export class Fetched<T> {
  readonly #jobs: T[] = [];
  #late: ((job: T) => void) | undefined;

  /** The jobs fetched so far (none of those that came after the cut). */
  get jobs(): readonly T[] {
    return this.#jobs;
  }

  /** A job a fetch brought: kept, or after the cut handed to `late`. */
  add(job: T): void {
    if (this.#late === undefined) this.#jobs.push(job);
    else this.#late(job);
  }

  /** The claim cut short: each job fetched from now on goes to `late`. */
  cut(late: (job: T) => void): void {
    this.#late = late;
  }
}
