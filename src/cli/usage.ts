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
 * A command's arguments, parsed strictly: an unknown flag, a missing value, a
 * flag given twice or a stray argument is a `UsageError` naming it. (`--help`
 * never comes here: the command line asks for help before any command runs,
 * see help.ts.)
 */
export function parse(command: string, args: string[], options: Options, positionals: { min: number; max: number }): Parsed {
  let parsed: Parsed & { tokens: { kind: string; name?: string; value?: string }[] };
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(command, parseError(error as Error & { code?: string }, args, options));
  }
  twice(command, parsed.tokens);
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

/**
 * A flag given twice: parseArgs keeps the last, and `--name a --name b` acted on the tasks named b alone, `--port 80
 * --port 8080` served on 8080, without a word.
 */
function twice(command: string, tokens: readonly { kind: string; name?: string; value?: string }[]): void {
  const seen = new Map<string, string | undefined>();
  for (const { kind, name, value } of tokens) {
    if (kind !== 'option' || name === undefined) continue;
    if (!seen.has(name)) {
      seen.set(name, value);
      continue;
    }
    const values = value === undefined ? '' : ` (${JSON.stringify(seen.get(name))}, then ${JSON.stringify(value)})`;
    throw new UsageError(command, `--${name} is given twice${values}: give it once`);
  }
}

/**
 * parseArgs's complaint, in the command's words, on one line: an unknown flag with the one meant, or the list; a flag
 * without its value (its three lines when the word after it starts with a dash, as `--workers -1`), or with one it
 * does not take.
 */
function parseError(error: Error & { code?: string }, args: readonly string[], options: Options): string {
  const unknown = error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-[^'=]*)/.exec(error.message) : null;
  if (unknown !== null) return `unknown option ${unknown[1]}; ${suggest(unknown[1]!, Object.keys(options).map((name) => `--${name}`), 'options')}`;
  const flag = error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? /--([a-z][\w-]*)/.exec(error.message)?.[1] : undefined;
  if (flag === undefined || options[flag] === undefined) return error.message.replace(/\. To specify a positional argument.*$/s, '');
  if (/does not take an argument/.test(error.message)) return `--${flag} takes no value`;
  const short = options[flag].short;
  const at = args.findIndex((arg, i) => (arg === `--${flag}` || arg === `-${short}`) && args[i + 1]?.startsWith('-'));
  const dashed = at === -1 ? '' : ` (${JSON.stringify(args[at + 1])} after it reads as an option; a value that starts with - is written --${flag}=${args[at + 1]})`;
  return `--${flag} is missing its value${dashed}`;
}

/**
 * A flag's value (or, `named` so, an environment variable's) as a whole number within `min`..`max`, in plain digits:
 * no sign, point, exponent or space, and no leading zero (`--port 080` was port 80, where some read 080 as octal).
 */
export function integer(command: string, flag: string, value: string | boolean | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, named = `--${flag}`): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^(?:0|[1-9]\d*)$/.test(value) || n < min || n > max) {
    const zeros = typeof value === 'string' && /^0\d/.test(value) ? ' (written without leading zeros)' : '';
    throw new UsageError(command, `${named} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}${zeros}`);
  }
  return n;
}
