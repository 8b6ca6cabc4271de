export { createTestClient, TestClient, TestResponse, type TestClientOptions } from './test-client.js';
export type { TestRequestOptions } from './request-options.js';
