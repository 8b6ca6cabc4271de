import { createRequire } from 'node:module';

/** coda-http's version, from its package.json: two folders up from src/cli and from dist/cli alike. */
export function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
