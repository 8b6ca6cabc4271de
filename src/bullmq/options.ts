// The store's public options, apart from the code that uses BullMQ and
// ioredis: their types are not needed to use coda-http/bullmq's own.

/** Where Redis is. */
export interface RedisConnection {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  /** The logical database. Default 0. */
  db?: number;
  /** TLS options (as `tls.connect()` takes them), for a Redis behind TLS. */
  tls?: Record<string, unknown>;
}


export interface BullmqStoreOptions {
  /** Where Redis is. Default `{ host: '127.0.0.1', port: 6379 }`. */
  connection?: RedisConnection;
  /** The prefix of every key, as BullMQ's `prefix` (Bull Board needs the same). Default `'coda'`. */
  prefix?: string;
  /**
   * Completed jobs BullMQ keeps, per task name (its `removeOnComplete`): the
   * newest `count`, none older than `ageMs`. Older ones are removed as jobs
   * complete, so that Redis's memory stays flat. Default 1,000 and one hour.
   */
  keepCompleted?: { count?: number; ageMs?: number };
  /**
   * How long a call of the store (a registration, `get()`, `stats()`, `list()`) waits for Redis, counted from the
   * call, whatever number of commands it sends: a Redis that stops answering (paused, frozen, a dead link) fails it
   * with `StoreUnavailable` (a request's 503) then, not when Redis answers again. Also every single command's limit,
   * on the store's connections and its BullMQ workers'. Default 3,000.
   */
  commandTimeoutMs?: number;
}
