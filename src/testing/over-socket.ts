import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ReadableStream } from 'node:stream/web';
import { TestResponse } from './test-response.js';
import { TestStreamResponse } from './test-stream.js';

/**
 * A request to the server at `url`, with node:http, not fetch: fetch adds
 * headers of its own (Accept-Encoding, User-Agent, Sec-Fetch-Mode...),
 * decodes a compressed body under its Content-Encoding, and follows
 * redirects; the test gets what was sent. `signal` aborts it. `where`
 * names the request in errors.
 */
export async function overSocket(where: string, url: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<TestResponse> {
  const response = await send(url, method, path, headers, body, signal);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response) chunks.push(chunk as Buffer);
  } catch (cause) {
    if (signal.aborted) throw cause;
    throw cutShort(where, response, chunks.reduce((sum, chunk) => sum + chunk.length, 0), cause);
  }
  return new TestResponse(response.statusCode!, receivedHeaders(response), Buffer.concat(chunks));
}

/**
 * `overSocket`, its body read as the test reads it, chunk by chunk as it
 * arrives; `signal` aborting closes the connection, as a client that goes
 * away (the response's close() calls `stop`, which aborts it). The connection keeps the process alive only while a read waits:
 * a stream nobody reads does not hang it. `left` is told this side's port when the client goes before the end.
 */
export async function overSocketStream(where: string, url: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal, stop: (reason: Error) => void, left: (localPort: number) => void): Promise<TestStreamResponse> {
  const response = await send(url, method, path, headers, body, signal);
  const { socket } = response;
  socket.unref();
  // Gone before the end (close(), a break): the server still has to see it, and nothing of this side keeps the process alive meanwhile.
  // Read now: once the socket is destroyed (the abort destroys it first), it has none.
  const port = socket.localPort!;
  const leave = (): void => left(port);
  signal.addEventListener('abort', leave, { once: true });
  const chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let received = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      socket.ref();
      try {
        const next = await chunks.next();
        if (next.done === true) {
          controller.close();
          return;
        }
        received += next.value.length;
        controller.enqueue(new Uint8Array(next.value));
      } catch (cause) {
        controller.error(signal.aborted ? signal.reason : cutShort(where, response, received, cause));
      } finally {
        socket.unref();
      }
    },
    cancel() {
      leave();
      response.destroy();
    },
  }, { highWaterMark: 0 });
  return new TestStreamResponse(response.statusCode!, receivedHeaders(response), stream, stop);
}

/** Sends the request; resolves with the response once its head came. */
async function send(url: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<IncomingMessage> {
  const { hostname, port } = new URL(url);
  // The target as it is: a URL would resolve its dot segments. A Host given is sent as given: Node's own replaced an empty one.
  const request = httpRequest({ hostname, port, path, method, headers, signal, setHost: headers['host'] === undefined });
  const [response] = (await once(request.end(body), 'response')) as [IncomingMessage];
  return response;
}

/** Node says only "aborted" of a body cut short: this names the request and what came, as in-process names the stream's own error. */
function cutShort(where: string, response: IncomingMessage, received: number, cause: unknown): Error {
  return new Error(`${where}: the response (status ${response.statusCode}) was cut after ${received} bytes of its body: the server closed the connection before its end (a streamed body whose source failed: the app's log says why)`, { cause });
}

function receivedHeaders(response: IncomingMessage): Headers {
  const received = new Headers();
  for (let i = 0; i < response.rawHeaders.length; i += 2) received.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
  return received;
}
