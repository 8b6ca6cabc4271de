export { createTestClient, TestClient, type SettleOptions, type TestClientOptions } from './test-client.js';
export { TestResponse } from './test-response.js';
export { TestStreamResponse } from './test-stream.js';
export type { TestRequestOptions } from './request-options.js';
