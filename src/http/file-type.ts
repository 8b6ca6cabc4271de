import { createRequire } from 'node:module';

type Send = typeof import('@fastify/send');

/** Loaded on first use, as staticFiles() loads @fastify/send: an app that sends no file never reads its type table. */
let send: Send | undefined;

/** The media type of a file by its name's extension, as staticFiles() types it (@fastify/send's `mime`): `application/octet-stream` when unknown. */
export function fileMediaType(name: string): string {
  send ??= createRequire(import.meta.url)('@fastify/send') as Send;
  return send.mime.getType(name) ?? 'application/octet-stream';
}

/** The Content-Type staticFiles() sends for a file of this name: its media type, with `charset=utf-8` for text, JSON and JavaScript. */
export function fileContentType(name: string): string {
  const type = fileMediaType(name);
  return send!.isUtf8MimeType(type) ? `${type}; charset=utf-8` : type;
}
