// What the body peer suites share: a view that answers with what a body
// reader gave (or the error it threw), and one raw request over a socket.
import type { Server, View } from 'coda-http';
import { JsonResponse } from 'coda-http';
import { rawRequest } from '../helpers.js';

/** The body as a reader gives it (a FormData as its entries, bytes as hex), or the error it threw, with its status. */
export function reading(read: (request: Parameters<View>[0]) => Promise<unknown>): View {
  return async (request) => {
    try {
      const body = await read(request);
      return new JsonResponse({ body: body instanceof FormData ? [...body] : Buffer.isBuffer(body) ? body.toString('hex') : body });
    } catch (error) {
      const { status, message } = error as { status: number; message: string };
      return new JsonResponse({ error: message }, { status });
    }
  };
}

/** One request over a new connection, framed by Content-Length unless `headers` frame it: its status and JSON body. */
export async function sendTo(server: Server, method: string, path: string, headers: string[], body: string | Buffer = ''): Promise<[number, unknown]> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const framed = headers.some((header) => /^(content-length|transfer-encoding):/i.test(header));
  const head = [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headers, ...(framed ? [] : [`Content-Length: ${bytes.length}`])];
  const response = await rawRequest(server, Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), bytes]));
  return [response.status, JSON.parse(response.body.toString())];
}
