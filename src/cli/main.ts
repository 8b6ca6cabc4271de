#!/usr/bin/env node
// The `coda` command: serve an app, run its durable tasks, operate on them.
import { StoreUnavailable } from '../durable/errors.js';
import { askedHelp, HELP, unknownCommand } from './help.js';
import { ListenError } from './listen.js';
import { AppLoadError } from './load-app.js';
import { Output } from './output.js';
import { serveCommand } from './serve-command.js';
import { tasksCommand } from './tasks-command.js';
import { UsageError } from './usage.js';
import { version } from './version.js';
import { workerCommand } from './worker-command.js';

/** Runs the command in `argv`; resolves with the exit code, or undefined when it keeps running (a server, a worker). */
async function main(argv: string[], out: Output, err: Output): Promise<number | undefined> {
  const asked = askedHelp(argv);
  if (asked !== undefined) {
    out.line(asked);
    return 0;
  }
  const [command, ...args] = argv;
  switch (command) {
    case undefined:
      err.line(HELP);
      return 2;
    case 'serve':
      return serveCommand(args, err);
    case 'worker':
      return workerCommand(args, err);
    case 'tasks':
      return tasksCommand(args, out, err);
    case '--version':
    case '-v':
      out.line(`coda-http ${version()}`);
      return 0;
    default:
      throw unknownCommand('coda', command);
  }
}

/**
 * A command that has ended exits with `code` once its output is written:
 * the app's module may hold the event loop open (a database pool or a Redis
 * client made as it loads, a server it started), which left `coda tasks`
 * hanging after its answer, and a failed `coda serve` after its error. A
 * cluster worker's channel to the primary holds it open too.
 */
function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit()));
}

const out = new Output(process.stdout);
const err = new Output(process.stderr);
main(process.argv.slice(2), out, err).then(
  (code) => {
    if (code !== undefined) exit(code);
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      err.line(err.style('red', error.message));
      err.line(`Run ${error.command} --help for usage.`);
      exit(2);
    } else {
      // The user's to fix (the module, the app's store): one line that says what; anything else, with its stack.
      const plain = error instanceof AppLoadError || error instanceof StoreUnavailable || error instanceof ListenError;
      err.line(`${err.style('red', 'coda:')} ${plain ? error.message : (error as Error)?.stack ?? String(error)}`);
      exit(1);
    }
  },
);
