import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { TestResponse } from './test-response.js';

/**
 * A request to the server at `url`, with node:http, not fetch: fetch adds
 * headers of its own (Accept-Encoding, User-Agent, Sec-Fetch-Mode...),
 * decodes a compressed body under its Content-Encoding, and follows
 * redirects; the test gets what was sent. `signal` aborts it. `where`
 * names the request in errors.
 */
export async function overSocket(where: string, url: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<TestResponse> {
  const { hostname, port } = new URL(url);
  // The target as it is: a URL would resolve its dot segments. A Host given is sent as given: Node's own replaced an empty one.
  const request = httpRequest({ hostname, port, path, method, headers, signal, setHost: headers['host'] === undefined });
  const [response] = (await once(request.end(body), 'response')) as [IncomingMessage];
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response) chunks.push(chunk as Buffer);
  } catch (cause) {
    if (signal.aborted) throw cause;
    // Node says only "aborted": name the request and what came, as in-process names the stream's own error.
    const received = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    throw new Error(`${where}: the response (status ${response.statusCode}) was cut after ${received} bytes of its body: the server closed the connection before its end (a streamed body whose source failed: the app's log says why)`, { cause });
  }
  const received = new Headers();
  for (let i = 0; i < response.rawHeaders.length; i += 2) received.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
  return new TestResponse(response.statusCode!, received, Buffer.concat(chunks));
}

