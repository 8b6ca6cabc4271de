import { describe } from '../util/describe.js';
import { App } from './app.js';

/**
 * Refuses what is not an App made by `createApp()` (its `handler`, a module
 * whose default export was not taken), naming `where`: it failed deep inside,
 * as "Cannot read properties of undefined (reading 'defined')".
 */
export function checkApp(where: string, app: unknown): asserts app is App {
  if (app instanceof App) return;
  const hint = typeof app === 'function' ? ' (app.handler is for http.createServer(): give the app itself)' : '';
  throw new TypeError(`${where} takes the App that createApp() made, got ${describe(app)}${hint}`);
}
