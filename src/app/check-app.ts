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
    : app !== null && typeof app === 'object' && typeof (app as Partial<App>).handler === 'function'
      ? ' (it looks like one made by another copy of coda-http: import serve and createApp from the same one)'
      : '';
  throw new TypeError(`${where} takes the App that createApp() made, got ${describe(app)}${hint}`);
}
