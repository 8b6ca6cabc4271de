// coda-http/bullmq: durable tasks on BullMQ and Redis (docs/bullmq.md).
export { bullmqStore } from './store.js';
export type { BullmqStoreOptions, RedisConnection } from './options.js';
