/** The baseline: raw node:http, every scenario done by hand. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterTask, HELLO, listen, maybeFail, MISSING, ready, serverArgs, STACK_HEADERS } from '../shared.js';

const { scenario, port } = serverArgs();
const task = afterTask(scenario);
const USER = /^\/users\/([^/?]+)(?:\?|$)/;

function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(HELLO) });
  res.end(HELLO);
}

function stack(req: IncomingMessage, res: ServerResponse): void {
  if (task !== undefined) res.on('finish', task);
  // The five middlewares on the way in: read one header each.
  const seen: string[] = [];
  for (const name of STACK_HEADERS) {
    const value = req.headers[name];
    seen.push(typeof value === 'string' ? value : MISSING);
  }
  let status = 200;
  let type = 'application/json; charset=utf-8';
  let body: string;
  try {
    if (scenario === 'errors') maybeFail();
    const match = USER.exec(req.url ?? '');
    if (match === null) {
      status = 404;
      type = 'text/plain; charset=utf-8';
      body = 'Not Found';
    } else {
      const id = match[1]!;
      body = JSON.stringify({ id: id.includes('%') ? decodeURIComponent(id) : id });
    }
  } catch {
    status = 500;
    type = 'text/plain; charset=utf-8';
    body = 'Internal Server Error';
  }
  // ... and on the way out: set one header each.
  for (let i = 0; i < STACK_HEADERS.length; i++) res.setHeader(STACK_HEADERS[i]!, seen[i]!);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer(scenario === 'hello' ? hello : stack);
await listen(server, port);
await ready('node', scenario, server);
