// Request bodies' headers under hostile input: a value of any length is read
// in time linear in it. Through app.fetch(), whose platform (a fetch runtime,
// an adapter) may take longer headers than node:http's 16 KiB.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, HttpResponse, post } from 'coda-http';

const app = createApp({ routes: [post('/text', async (request) => new HttpResponse(await request.text()))] });

test('a Content-Encoding list with 200,000 blanks in a member is a 415 naming it, in time linear in its length', async () => {
  const coding = `identity,${' '.repeat(200_000)}x`;
  const started = performance.now();
  const response = await app.fetch(new Request('http://localhost/text', { method: 'POST', body: 'hi', headers: { 'content-encoding': coding } }));
  // Was quadratic (/^\s*(?:identity)?\s*$/ backtracking over the blanks): 110 s of one CPU, the event loop held. Linear, it is milliseconds.
  assert.ok(performance.now() - started < 10_000, `took ${Math.round(performance.now() - started)} ms`);
  assert.equal(response.status, 415);
  assert.equal(response.headers.get('accept-encoding'), 'identity');
  assert.match(await response.text(), /^request body has Content-Encoding "identity, {8}/);
});

test('identity and empty members, blanks around them, are no coding: the body is read', async () => {
  const response = await app.fetch(new Request('http://localhost/text', { method: 'POST', body: 'hi', headers: { 'content-encoding': ` Identity ,\t, identity\t` } }));
  assert.deepEqual([response.status, await response.text()], [200, 'hi']);
});
