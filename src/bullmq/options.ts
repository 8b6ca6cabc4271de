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
}
