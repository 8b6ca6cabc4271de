export { createTestClient, TestClient, TestResponse, type SettleOptions, type TestClientOptions } from './test-client.js';
export type { TestRequestOptions } from './request-options.js';
