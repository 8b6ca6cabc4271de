import { describe } from '../util/describe.js';
import { checkCount, checkKeys } from '../util/options.js';

/** What to do with a JSON key that could poison a prototype (Fastify's option values). */
export type PoisoningAction = 'error' | 'remove' | 'ignore';

/**
 * How request bodies are parsed: `createApp({ body: { ... } })`. The limits
 * are Django's defaults.
 *
 * @example
 * ```ts
 * createApp({ routes, body: { maxFields: 5_000, onProtoPoisoning: 'remove' } });
 * ```
 */
export interface BodyOptions {
  /**
   * Entries a form may have, fields and files together, urlencoded or
   * multipart; more is a 413. Default 1,000 (Django's DATA_UPLOAD_MAX_NUMBER_FIELDS).
   */
  maxFields?: number;
  /** Files a multipart form may have; more is a 413. Default 100 (Django's DATA_UPLOAD_MAX_NUMBER_FILES). */
  maxFiles?: number;
  /**
   * How deep arrays and objects may nest in a JSON body; deeper is a 400,
   * found by a linear scan before parsing. Default 64.
   */
  maxJsonDepth?: number;
  /**
   * A `__proto__` key anywhere in a JSON body: `'error'` (default) answers
   * 400, `'remove'` deletes the key, `'ignore'` keeps it as an own key, as
   * `JSON.parse` does (then `Object.assign({}, body)` sets the prototype).
   */
  onProtoPoisoning?: PoisoningAction;
  /**
   * A `constructor` key holding an object with a `prototype` key: `'error'`
   * (default) answers 400, `'remove'` deletes the `constructor` key,
   * `'ignore'` keeps it.
   */
  onConstructorPoisoning?: PoisoningAction;
}

/** The options with their defaults, checked, and shaped as the parsers take them: built once per app. */
export interface BodySettings {
  readonly maxFields: number;
  readonly maxFiles: number;
  readonly maxJsonDepth: number;
  /** secure-json-parse's options. */
  readonly json: { readonly protoAction: PoisoningAction; readonly constructorAction: PoisoningAction };
  /** busboy's limits. */
  readonly multipart: { readonly fieldSize: number; readonly files: number; readonly parts: number };
}

const KEYS = ['maxFields', 'maxFiles', 'maxJsonDepth', 'onProtoPoisoning', 'onConstructorPoisoning'];

export function bodySettings(options: BodyOptions): BodySettings {
  checkKeys('createApp() body', options, KEYS);
  const maxFields = checkCount('body.maxFields', options.maxFields ?? 1000);
  const maxFiles = checkCount('body.maxFiles', options.maxFiles ?? 100, 0);
  return {
    maxFields,
    maxFiles,
    maxJsonDepth: checkCount('body.maxJsonDepth', options.maxJsonDepth ?? 64),
    json: {
      protoAction: checkAction('body.onProtoPoisoning', options.onProtoPoisoning),
      constructorAction: checkAction('body.onConstructorPoisoning', options.onConstructorPoisoning),
    },
    multipart: {
      // The body's size is already checked. busboy's own limit on a text field
      // (1 MiB by default) would cut values short without an error.
      fieldSize: Infinity,
      files: maxFiles,
      // busboy signals 'partsLimit' once the count reaches this, not passes it:
      // one more than allowed, so that exactly maxFields parts are accepted.
      parts: maxFields + 1,
    },
  };
}

/** The settings when an app gives none. */
export const DEFAULT_BODY_SETTINGS: BodySettings = bodySettings({});

function checkAction(what: string, value: unknown): PoisoningAction {
  if (value === undefined) return 'error';
  if (value === 'error' || value === 'remove' || value === 'ignore') return value;
  throw new TypeError(`${what} must be 'error', 'remove' or 'ignore', got ${describe(value)}`);
}
