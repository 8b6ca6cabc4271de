import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App } from '../app/app.js';
import { fromAnotherCopy } from '../app/check-app.js';
import { describe, errorMessage } from '../util/describe.js';

/** The module could not be loaded, or does not export an app, or its app's task store cannot serve the command: the message says what to do. */
export class AppLoadError extends Error {
  override get name(): string {
    return 'AppLoadError';
  }
}

const TYPESCRIPT = /\.[cm]?ts$/;
/** What Node says of ES module syntax in a file it reads as CommonJS (`"type": "commonjs"`, as `npm init` writes it). */
const COMMONJS = /^Cannot use import statement outside a module|^Unexpected token 'export'/;
/** Coda's own folder (src/ or dist/): its frames in a stack are the loader's, not the app's. */
const CODA = fileURLToPath(new URL('..', import.meta.url));

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
    throw new AppLoadError(`cannot load ${file}: ${errorMessage(error)}${whereFrom(error, url)}${loadHint(file, error)}`, { cause: error });
  }
  const app = module['default'] ?? module['app'];
  if (app instanceof App) return app;
  if (app === undefined) throw new AppLoadError(`${file} exports no app: export the App made by createApp() as the default export or as \`app\``);
  const copies = fromAnotherCopy(app)
    ? ' (it looks like one from another copy of coda-http: run the coda command of the project that app imports, e.g. npx coda)'
    : '';
  throw new AppLoadError(`${file}: the exported app is not a Coda App made by createApp(), got ${describe(app)}${copies}`);
}

/**
 * Where in the app's code loading `url` failed: the source line and caret of
 * a syntax error, the stack frames of an error thrown, none of Node's or
 * coda's own (none at all for Node's own errors, a file it could not find:
 * their message names the file).
 */
function whereFrom(error: unknown, url: string): string {
  const stack = (error as Error | null)?.stack;
  if (typeof stack !== 'string') return '';
  const lines = stack.split('\n');
  const message = lines.findIndex((line) => line.includes((error as Error).message));
  let source = message > 0 ? lines.slice(0, message).filter((line) => line.trim() !== '') : [];
  if (source.length === 0 && error instanceof SyntaxError) source = syntaxErrorSource(url);
  const nodes = typeof (error as { code?: unknown }).code === 'string' && (error as { code: string }).code.startsWith('ERR_');
  const frames = nodes ? [] : lines.filter((line) => /^\s+at /.test(line) && !/\(?node:/.test(line) && !line.includes(CODA)).slice(0, 10);
  return [...source, ...frames].map((line) => `\n${line}`).join('');
}

/**
 * The file, line and caret of a syntax error met parsing `url`'s modules,
 * which Node keeps from the error and prints only when it is fatal: the
 * import again in a child process, where it is. Nothing runs there: a
 * module graph that does not parse is not evaluated.
 */
function syntaxErrorSource(url: string): string[] {
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '--eval', `await import(${JSON.stringify(url)});`], { encoding: 'utf8', timeout: 10_000 });
  const lines = (child.stderr ?? '').split('\n');
  const end = lines.findIndex((line) => line.startsWith('SyntaxError'));
  return end > 0 ? lines.slice(0, end).filter((line) => line.trim() !== '') : [];
}

/** What to do about a module that would not load: one read as CommonJS, a TypeScript one Node did not strip. */
export function loadHint(file: string, error: unknown): string {
  if (COMMONJS.test(errorMessage(error))) {
    return `\n${file} is read as CommonJS, and coda-http is an ES module: set "type": "module" in its package.json (npm pkg set type=module), or name it .mjs (.mts)`;
  }
  return TYPESCRIPT.test(file) && fromLoading(error) ? typeScriptHint(error) : '';
}

/**
 * Whether `error` may come of loading TypeScript the way Node does (syntax it does not strip, a `.js` specifier for a
 * `.ts` file, an alias from tsconfig's `paths`), not of the app's code as it runs (a `createApp()` option refused),
 * where the hint would mislead.
 */
function fromLoading(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof SyntaxError || code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNKNOWN_FILE_EXTENSION';
}

function typeScriptHint(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return `\nThis Node (${process.version}) does not load TypeScript by itself: use Node >= 22.18, or run NODE_OPTIONS=--experimental-strip-types coda ..., or load it through tsx: NODE_OPTIONS='--import tsx' coda ...`;
  }
  return "\nTypeScript modules load through Node's type stripping, which takes erasable syntax only and imports written with their .ts extension; for anything else (enums, .js specifiers, paths) load through tsx: NODE_OPTIONS='--import tsx' coda ...";
}
