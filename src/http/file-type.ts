import { createRequire } from 'node:module';

type Send = typeof import('@fastify/send');

let send: Send | undefined;

/**
 * @fastify/send, loaded on first use, synchronously (FileResponse types its
 * file where it is made; staticFiles() loads it where its route is made): an
 * app that sends no file never reads it or its type table.
 */
export function fastifySend(): Send {
  return (send ??= createRequire(import.meta.url)('@fastify/send') as Send);
}

/**
 * Types @fastify/send's `mime` (v3) still gives that are obsolete, and the
 * one sent instead: RFC 9239 made `text/javascript` JavaScript's only type
 * (serve-static, through mime-types 3, and Django send it).
 */
const CURRENT: Readonly<Record<string, string>> = { 'application/javascript': 'text/javascript' };

/** The media type of a file by its name's extension, as staticFiles() types it (@fastify/send's `mime`, obsolete types replaced): `application/octet-stream` when unknown. */
export function fileMediaType(name: string): string {
  const type = fastifySend().mime.getType(name);
  return type === null ? 'application/octet-stream' : (CURRENT[type] ?? type);
}

/** The Content-Type staticFiles() sends for a file of this name: its media type, with `charset=utf-8` for text, JSON and JavaScript. */
export function fileContentType(name: string): string {
  const type = fileMediaType(name);
  return fastifySend().isUtf8MimeType(type) ? `${type}; charset=utf-8` : type;
}
