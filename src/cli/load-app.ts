import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from '../app/app.js';
import { describe } from '../util/describe.js';

/** The module could not be loaded, or does not export an app, or its app's task store cannot serve the command: the message says what to do. */
export class AppLoadError extends Error {
  override get name(): string {
    return 'AppLoadError';
  }
}

const TYPESCRIPT = /\.[cm]?ts$/;

/**
 * Imports the module at `file` (relative to the working directory) and
 * returns its app: the default export, or else the export named `app`.
 * TypeScript modules load through Node's type stripping (on by default from
 * Node 22.18 and 23.6) or through a loader the process was started with
 * (`NODE_OPTIONS='--import tsx'`).
 */
export async function loadApp(file: string): Promise<App> {
  const absolute = path.resolve(file);
  // The commonest mistake, said plainly: Node's own message names the loader's file, and the TypeScript hint would mislead.
  const stats = statSync(absolute, { throwIfNoEntry: false });
  if (stats === undefined) throw new AppLoadError(`cannot load ${file}: no such file (${absolute})`);
  if (stats.isDirectory()) throw new AppLoadError(`cannot load ${file}: it is a directory; give the module that exports the app (e.g. ${path.join(file, 'app.ts')})`);
  const url = pathToFileURL(absolute).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new AppLoadError(`cannot load ${file}: ${(error as Error).message}${TYPESCRIPT.test(file) ? typeScriptHint(error) : ''}`, { cause: error });
  }
  const app = module['default'] ?? module['app'];
  if (app instanceof App) return app;
  if (app === undefined) throw new AppLoadError(`${file} exports no app: export the App made by createApp() as the default export or as \`app\``);
  const copies = app !== null && typeof app === 'object' && typeof (app as Partial<App>).handler === 'function'
    ? ' (it looks like one from another copy of coda-http: run the coda command of the project that app imports, e.g. npx coda)'
    : '';
  throw new AppLoadError(`${file}: the exported app is not a Coda App made by createApp(), got ${describe(app)}${copies}`);
}

function typeScriptHint(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return `\nThis Node (${process.version}) does not load TypeScript by itself: use Node >= 22.18, or run NODE_OPTIONS=--experimental-strip-types coda ..., or load it through tsx: NODE_OPTIONS='--import tsx' coda ...`;
  }
  return "\nTypeScript modules load through Node's type stripping, which takes erasable syntax only and imports written with their .ts extension; for anything else (enums, .js specifiers, paths) load through tsx: NODE_OPTIONS='--import tsx' coda ...";
}
