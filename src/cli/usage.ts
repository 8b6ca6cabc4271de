import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../util/options.js';

/** Bad command-line use: the message is printed with a pointer to `--help`, and the exit code is 2. */
export class UsageError extends Error {
  /** The command whose `--help` explains (`coda serve`). */
  readonly command: string;

  constructor(command: string, message: string) {
    super(`${command}: ${message}`);
    this.command = command;
  }

  override get name(): string {
    return 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed arguments: flag values by name (strings, or true for boolean flags), then the positional arguments. */
export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * A command's arguments, parsed strictly: an unknown flag, a missing value or
 * a stray argument is a `UsageError` naming it. (`--help` never comes here:
 * the command line asks for help before any command runs, see help.ts.)
 */
export function parse(command: string, args: string[], options: Options, positionals: { min: number; max: number }): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (error) {
    throw new UsageError(command, parseError(error as Error & { code?: string }, options));
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(command, 'missing the <module> argument');
  if (count > positionals.max) throw new UsageError(command, `unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`);
  return parsed;
}

/** What to say after a word that is none of `choices`: the one it is near, else all of them (`the ${kind} are …`). */
export function suggest(word: string, choices: readonly string[], kind: string): string {
  const guess = closest(word, choices);
  return guess === undefined ? `the ${kind} are ${choices.join(', ')}` : `did you mean ${guess}?`;
}

/** parseArgs's complaint, in the command's words: an unknown flag with the one meant, or the list. */
function parseError(error: Error & { code?: string }, options: Options): string {
  const unknown = error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-[^'=]*)/.exec(error.message) : null;
  if (unknown === null) return error.message.replace(/\. To specify a positional argument.*$/s, '');
  return `unknown option ${unknown[1]}; ${suggest(unknown[1]!, Object.keys(options).map((name) => `--${name}`), 'options')}`;
}

/** A flag's value (or, `named` so, an environment variable's) as a whole number within `min`..`max`. */
export function integer(command: string, flag: string, value: string | boolean | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, named = `--${flag}`): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) throw new UsageError(command, `${named} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
