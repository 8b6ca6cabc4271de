export { createTestClient, TestClient, TestResponse, type TestClientOptions, type TestRequestOptions } from './test-client.js';
