import { SERVE_HELP } from './serve-command.js';
import { tasksHelp } from './tasks-command.js';
import { suggest, UsageError } from './usage.js';
import { WORKER_HELP } from './worker-command.js';

/** What `coda --help` (and a bare `coda`) prints. */
export const HELP = `Usage: coda <command> [options]

Commands:
  serve <module>            serve the app the module exports (--port, --host, --workers)
  worker <module>           run the app's durable tasks from its store
  tasks <action> <module>   stats, list, retry or discard durable tasks in the app's store
  help [command [action]]   show help for a command (or a tasks action)
  --version                 print the version of coda-http

Run coda <command> --help for a command's options.`;

/** Each command's help, by its subcommand (an unknown one a UsageError): what `coda <command> [<subcommand>] --help` prints. */
const HELPS = new Map<string, (subcommand: string | undefined) => string>([
  ['serve', (subcommand) => noSubcommand('serve', subcommand, SERVE_HELP)],
  ['worker', (subcommand) => noSubcommand('worker', subcommand, WORKER_HELP)],
  ['tasks', tasksHelp],
  ['help', (subcommand) => noSubcommand('help', subcommand, HELP)],
]);

function noSubcommand(command: string, subcommand: string | undefined, help: string): string {
  if (subcommand !== undefined) throw new UsageError(`coda ${command}`, `unknown subcommand ${JSON.stringify(subcommand)}: coda ${command} has none`);
  return help;
}

/** The error for a first word that is no command, as `coda <that> --help` and `coda help <that>` give it. */
export function unknownCommand(command: string, word: string): UsageError {
  return new UsageError(command, `unknown command ${JSON.stringify(word)}; ${suggest(word, ['serve', 'worker', 'tasks'], 'commands')}`);
}

const isHelpFlag = (arg: string | undefined): boolean => arg === '--help' || arg === '-h';

/**
 * The help that `argv` asks for, or undefined when it asks for none. `coda help [<command> [<action>]]` and
 * `coda --help [<command> [<action>]]` name the topic alone: another word is an error. Elsewhere, as in git and npm,
 * `--help` (or `-h`) anywhere before `--` asks for help on the command in front, whatever else the line holds (its
 * module, its flags, even wrong ones): `coda tasks list ./app.ts --help` is the help of `coda tasks list`. A word
 * that names no command or action is a UsageError naming it.
 */
export function askedHelp(argv: readonly string[]): string | undefined {
  const end = argv.indexOf('--');
  const flagged = (end === -1 ? argv : argv.slice(0, end)).some(isHelpFlag);
  const [first] = argv;
  if (first === 'help' || isHelpFlag(first)) {
    // The help flag beside `help` asks the same thing again: dropped wherever it stands.
    const [topic, subcommand, extra] = argv.slice(first === 'help' ? 1 : 0).filter((arg) => !isHelpFlag(arg));
    const command = first === 'help' ? 'coda help' : 'coda';
    if (topic === undefined) return HELP;
    const helpOf = HELPS.get(topic);
    if (helpOf === undefined) throw unknownCommand(command, topic);
    if (extra !== undefined) throw new UsageError(command, `unexpected argument ${JSON.stringify(extra)}`);
    return helpOf(subcommand);
  }
  if (!flagged || first === undefined) return undefined;
  const helpOf = HELPS.get(first);
  if (helpOf === undefined) throw unknownCommand('coda', first);
  // Only tasks has actions: its first word after the command, unless that is a flag; serve's and worker's is their module.
  const [next] = argv.slice(1).filter((arg) => !isHelpFlag(arg));
  return helpOf(first === 'tasks' && next !== undefined && !next.startsWith('-') ? next : undefined);
}
