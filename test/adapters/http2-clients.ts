// Two HTTP/2 client sessions to a server about to close, for what its close
// does to each: one idle, one with a stream in flight.
import { once } from 'node:events';
import http2, { type ClientHttp2Session } from 'node:http2';

export interface IdleAndBusy {
  idle: ClientHttp2Session;
  busy: ClientHttp2Session;
  /** Resolves once both sessions have had a GOAWAY. */
  goaways: Promise<unknown>;
  /** The busy stream's body, once it has ended. */
  body: Promise<string>;
}

/**
 * Opens two sessions to `url`: `idle` once a GET of `/` was read whole on it,
 * `busy` with a GET of `busyPath` in flight; resolves once `handling` has
 * (the server is handling that GET).
 */
export async function idleAndBusy(url: string, busyPath: string, handling: Promise<void>): Promise<IdleAndBusy> {
  const [idle, busy] = [http2.connect(url), http2.connect(url)];
  const first = idle.request({ ':path': '/' });
  first.resume();
  await once(first, 'end');
  const slow = busy.request({ ':path': busyPath });
  slow.setEncoding('utf8');
  let text = '';
  slow.on('data', (chunk: string) => { text += chunk; });
  const body = once(slow, 'end').then(() => text);
  await handling;
  return { idle, busy, goaways: Promise.all([once(idle, 'goaway'), once(busy, 'goaway')]), body };
}
