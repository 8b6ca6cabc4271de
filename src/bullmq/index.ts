// coda-http/bullmq: durable tasks on BullMQ and Redis (docs/bullmq.md).
export { bullmqStore, type BullmqStoreOptions } from './store.js';
export type { RedisConnection } from './connection.js';
