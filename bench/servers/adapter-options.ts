/**
 * The adapters' options in the bench, as servers/coda.ts's: the default (64
 * tasks at once) would cap `after-io`'s 50 ms tasks at 1,280/s and answer
 * 503 under load, while the hand-written hooks run tasks unbounded.
 */
export const ADAPTER_OPTIONS = { after: { concurrency: 10_000 } };
