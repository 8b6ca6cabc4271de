import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * Loads an optional peer dependency (`@opentelemetry/api`, `prom-client`)
 * the first time a feature that needs it is turned on: an app that does not
 * turn it on never loads it, and one without it installed works as before.
 * Synchronous (`require`), so that `createApp()` stays synchronous; both
 * packages ship CommonJS. Throws an error naming the option and the install
 * command when the package is missing.
 */
export function loadPeer<Module>(name: string, wanted: string): Module {
  try {
    return require(name) as Module;
  } catch (error) {
    // The package itself missing; not one of its own dependencies (same code), which would be named as not installed when it is.
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !(error as Error).message.startsWith(`Cannot find module '${name}'`)) throw error;
    throw new Error(`${wanted} needs the package ${name}, which is not installed: npm install ${name}`, { cause: error });
  }
}

/** prom-client's module, as `promClient()` gives it. */
export type PromClient = typeof import('prom-client');

/** prom-client, for `wanted` (the option or view that needs it): see `loadPeer()`. */
export function promClient(wanted: string): PromClient {
  return loadPeer<PromClient>('prom-client', wanted);
}
