// Reading HTTP/1.1 off a raw socket for the transport tests: several responses
// on one keep-alive connection, each taken by its own framing, so that a stray
// byte between them is seen.
import { once } from 'node:events';
import type net from 'node:net';
import type { Server } from 'coda-http';
import { connect, parseResponse, type RawResponse } from '../helpers.js';

/** A request line and headers on a keep-alive connection (`close` for the last one). */
export function request(target: string, options: { method?: string; close?: boolean } = {}): string {
  const lines = [`${options.method ?? 'GET'} ${target} HTTP/1.1`, 'Host: localhost'];
  if (options.close) lines.push('Connection: close');
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Sends `/ok` on a kept-alive `socket` and resolves with the answer once it is whole (its body `ok`). */
export function askOk(socket: net.Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      if (!received.endsWith('\r\n\r\nok')) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(parseResponse(Buffer.from(received, 'latin1')));
    };
    const onClose = (): void => reject(new Error(`closed before its answer, after ${JSON.stringify(received)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(request('/ok'));
  });
}

/** Sends `requests` pipelined on one connection and reads until the server closes it. */
export async function pipelined(server: Server, requests: string[]): Promise<Buffer> {
  const socket = await connect(server);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {}); // a reset after a cut response counts as the close
  socket.write(requests.join(''));
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

/** The responses in `raw`, one after another by their framing, and the bytes after the last one. */
export function responses(raw: Buffer, methods: string[] = []): { list: RawResponse[]; rest: Buffer } {
  const list: RawResponse[] = [];
  let at = 0;
  while (at < raw.length && list.length < 16) {
    const head = raw.indexOf('\r\n\r\n', at);
    if (head === -1) break;
    const parsed = parseResponse(raw.subarray(at));
    const end = head + 4 + bodyLength(raw.subarray(head + 4), parsed, methods[list.length] ?? 'GET');
    if (end > raw.length) break;
    list.push(parseResponse(raw.subarray(at, end)));
    at = end;
  }
  return { list, rest: raw.subarray(at) };
}

/** How many bytes after the head belong to this response (RFC 9112 6.3); Infinity when they are not all there. */
function bodyLength(after: Buffer, response: RawResponse, method: string): number {
  const { status, headers } = response;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return 0;
  if (headers['transfer-encoding'] === 'chunked') {
    const last = after.indexOf('\r\n0\r\n\r\n');
    if (after.subarray(0, 5).toString('latin1') === '0\r\n\r\n') return 5;
    return last === -1 ? Infinity : last + 7;
  }
  if (headers['content-length'] !== undefined) return Number(headers['content-length']);
  return after.length;
}

/**
 * Starts reading `socket` and resolves once a response head has arrived;
 * `received` keeps every byte, those that come later too.
 */
export function untilHead(socket: net.Socket): { head: Promise<void>; received: Buffer[] } {
  const received: Buffer[] = [];
  const head = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (Buffer.concat(received).includes('\r\n\r\n')) resolve();
    });
    socket.once('close', () => reject(new Error('the connection closed before a response head')));
  });
  return { head, received };
}
