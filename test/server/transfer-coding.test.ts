import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { createApp, HttpResponse, post, type Server } from 'coda-http';
import { memoryLogger, rawRequest, startServer } from '../helpers.js';

const { logger, lines } = memoryLogger();
let served = 0;
// A view that answers without reading its body, as most views of a POST that is not theirs do.
const app = createApp({ logger, routes: [post('/at-once', () => new HttpResponse(`served ${++served}`))] });
let server: Server;
before(async () => {
  server = await startServer(app);
});
after(() => server.close());

test('a Transfer-Encoding whose last coding is not chunked is Node\'s 400, recorded as a refusal, and the app never sees the request (llhttp refuses it only after node:http handed it to the server: a view that answered at once was served it, and its 200 went out)', async () => {
  for (const coding of ['gzip', 'identity', 'chunked;q=1', 'chunked\r\nTransfer-Encoding: gzip']) {
    lines.length = 0;
    const response = await rawRequest(server, `POST /at-once HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: ${coding}\r\n\r\nabc`);
    assert.equal(response.status, 400, coding);
    assert.equal(response.headers.connection, 'close');
    assert.match(response.body.toString(), /^the request is malformed: .*Transfer-Encoding/);
    assert.deepEqual(lines.map((line) => [line.status, line.code, line.msg]), [[400, 'HPE_INVALID_TRANSFER_ENCODING', `request refused before the app: 400 ${response.body.toString().trimEnd()}`]], coding);
  }
  assert.equal(served, 0, 'no view ran');
});

test('under node --insecure-http-parser, whose parser takes a Transfer-Encoding not ending in chunked, it is the same 400, and the app never sees the request (it was left unanswered)', { timeout: 30_000 }, async (t) => {
  const child = spawn(process.execPath, ['--insecure-http-parser', '--conditions=coda-source', '--import', 'tsx', new URL('./fixtures/lenient-parser.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  const response = await rawRequest({ port } as Server, 'POST /at-once HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nabc');
  assert.equal(response.status, 400);
  assert.equal(response.headers.connection, 'close');
  assert.equal(response.body.toString(), 'the request is malformed: Request has invalid `Transfer-Encoding`\n');
  child.stdin.write('served?\n');
  assert.equal((await lines.next()).value, '0', 'no view ran');
  child.stdin.end();
  await once(child, 'exit');
});
