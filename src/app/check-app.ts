import { describe } from '../util/describe.js';
import { App } from './app.js';

/**
 * Refuses what is not an App made by `createApp()` (its `handler`, a module
 * whose default export was not taken), naming `where`: it failed deep inside,
 * as "Cannot read properties of undefined (reading 'defined')".
 */
export function checkApp(where: string, app: unknown): asserts app is App {
  if (app instanceof App) return;
  const hint = typeof app === 'function'
    ? ' (app.handler is for http.createServer(): give the app itself)'
    : fromAnotherCopy(app) ? ' (it looks like one made by another copy of coda-http: import serve and createApp from the same one)' : '';
  throw new TypeError(`${where} takes the App that createApp() made, got ${describe(app)}${hint}`);
}

/** Whether `value`, no App of this copy of coda-http, looks like one of another copy's (two versions in node_modules): it has a handler. */
export function fromAnotherCopy(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as Partial<App>).handler === 'function';
}
