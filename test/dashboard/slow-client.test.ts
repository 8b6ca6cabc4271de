// A page that opens the event stream and reads nothing (a tab asleep), over a
// real socket, behind compress() too: while the snapshots change 40 times, the
// server keeps only the latest unsent one for it, so on waking it is sent a
// few (those already in the socket and the compressor) and then the latest,
// never the 40 it missed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { compress, createApp, dashboard, get, HttpResponse } from 'coda-http';
import { startServer } from '../helpers.js';
import { openEvents, snapshotWhere, type Snapshot } from './events.js';

const CHANGES = 40;

/** A path of 2,000 characters no compressor shrinks much: 500 of them make a snapshot of about 1 MB. */
const noise = (): string => `/${randomBytes(1_000).toString('hex')}`;

for (const encoding of ['identity', 'gzip']) {
  test(`a client that reads nothing (Accept-Encoding: ${encoding}) is sent a few snapshots on waking, not each of the ${CHANGES} it slept through: the server holds the latest only`, { timeout: 120_000 }, async (t) => {
    const app = createApp({
      accessLog: false,
      middleware: [compress()],
      routes: [get('/*', () => new HttpResponse('ok')), ...dashboard({ authorize: () => true, recentRequests: 500, intervalMs: 20 })],
    });
    for (let i = 0; i < 500; i++) await (await app.fetch(new Request(`http://localhost${noise()}`))).text();
    const server = await startServer(app);
    t.after(() => server.close());
    // Its body never read until the end: once the client's buffers are full, its socket stops reading, and the server's fills.
    const request = http.get(`${server.url}/coda/events`, { headers: { 'accept-encoding': encoding } });
    t.after(() => request.destroy());
    const [asleep] = (await once(request, 'response')) as [http.IncomingMessage];
    assert.equal(asleep.headers['content-encoding'], encoding === 'gzip' ? 'gzip' : undefined);
    const awake = await openEvents(`${server.url}/coda/events`);
    t.after(awake.close);
    // Each request changes the snapshot; the next waits until the page that keeps up was sent it.
    for (let total = 501; total <= 500 + CHANGES; total++) {
      assert.equal((await fetch(`${server.url}${noise()}`)).status, 200);
      await snapshotWhere(awake.events, (snapshot) => snapshot.requests.total === total);
    }
    const body = encoding === 'gzip' ? asleep.pipe(zlib.createGunzip()) : asleep;
    const sent = await snapshotsUntil(body, 500 + CHANGES);
    assert.ok(sent <= CHANGES / 2, `the sleeping client was kept a backlog: ${sent} snapshots sent on waking`);
  });
}

/** Reads server-sent events off `body` until a snapshot counts `total` requests; how many snapshots came, that one included. */
async function snapshotsUntil(body: NodeJS.ReadableStream, total: number): Promise<number> {
  let text = '';
  let count = 0;
  body.setEncoding('utf8');
  for await (const chunk of body) {
    text += chunk as string;
    for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
      const data = text.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
      text = text.slice(end + 2);
      if (data === undefined) continue;
      count++;
      if ((JSON.parse(data.slice(6)) as Snapshot).requests.total === total) return count;
    }
  }
  throw new Error(`the stream ended after ${count} snapshots, before one counting ${total} requests`);
}
