// The test client's request headers under hostile input: a value of any
// length is checked and trimmed in time linear in it, then refused as the
// server refuses it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, get, HttpResponse } from 'coda-http';
import { createTestClient } from 'coda-http/testing';

const app = createApp({ routes: [get('/echo', (request) => new HttpResponse(JSON.stringify(request.headers.get('x-value'))))] });
const client = createTestClient(app);

test('a header value with 200,000 blanks inside it is the server\'s 431, in time linear in its length', async () => {
  const started = performance.now();
  const response = await client.get('/echo', { headers: { 'x-value': `a${' '.repeat(200_000)}b` } });
  // Was quadratic (/^[ \t]+|[ \t]+$/g tried at each blank): minutes of one CPU, the test's timeout unable to fire. Linear, it is milliseconds.
  assert.ok(performance.now() - started < 10_000, `took ${Math.round(performance.now() - started)} ms`);
  assert.equal(response.status, 431);
  assert.match(await response.text(), /header fields are larger than the server accepts/);
});

test('blanks around a value are dropped, those inside kept, as Node\'s server reads them', async () => {
  const response = await client.get('/echo', { headers: { 'x-value': ' \t a \t b \t ' } });
  assert.equal(await response.text(), JSON.stringify('a \t b'));
});
