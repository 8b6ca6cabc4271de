#!/usr/bin/env node
// The `coda` command: serve an app, run its durable tasks, operate on them.
import cluster from 'node:cluster';
import { AppLoadError } from './load-app.js';
import { Output } from './output.js';
import { SERVE_HELP, serveCommand } from './serve-command.js';
import { tasksCommand, tasksHelp } from './tasks-command.js';
import { UsageError } from './usage.js';
import { WORKER_HELP, workerCommand } from './worker-command.js';

const HELP = `Usage: coda <command> [options]

Commands:
  serve <module>            serve the app the module exports (--port, --host, --workers)
  worker <module>           run the app's durable tasks from its store
  tasks <action> <module>   stats, list, retry or discard durable tasks in the app's store
  help [command [action]]   show help for a command (or a tasks action)

Run coda <command> --help for a command's options.`;

/** Each command's help, by its subcommand (an unknown one a UsageError): what `coda <command> [<subcommand>] --help` prints. */
const HELPS = new Map<string, (subcommand: string | undefined) => string>([
  ['serve', (subcommand) => noSubcommand('serve', subcommand, SERVE_HELP)],
  ['worker', (subcommand) => noSubcommand('worker', subcommand, WORKER_HELP)],
  ['tasks', tasksHelp],
]);

function noSubcommand(command: string, subcommand: string | undefined, help: string): string {
  if (subcommand !== undefined) throw new UsageError(`coda ${command}`, `unknown subcommand ${JSON.stringify(subcommand)}: coda ${command} has none`);
  return help;
}

/** `coda help [<command> [<subcommand>]]`: prints what `coda <command> [<subcommand>] --help` does. */
function help([topic, subcommand, extra]: string[], out: Output): number {
  if (topic === undefined || topic === '--help' || topic === '-h') {
    out.line(HELP);
    return 0;
  }
  const helpOf = HELPS.get(topic);
  if (helpOf === undefined) throw new UsageError('coda help', `unknown command ${JSON.stringify(topic)}`);
  if (extra !== undefined) throw new UsageError('coda help', `unexpected argument ${JSON.stringify(extra)}`);
  out.line(helpOf(subcommand));
  return 0;
}

/** Runs the command in `argv`; resolves with the exit code, or undefined when it keeps running (a server, a worker). */
async function main(argv: string[], out: Output, err: Output): Promise<number | undefined> {
  const [command, ...args] = argv;
  switch (command) {
    case undefined:
      err.line(HELP);
      return 2;
    case '--help':
    case '-h':
      out.line(HELP);
      return 0;
    case 'help':
      return help(args, out);
    case 'serve':
      return serveCommand(args, out, err);
    case 'worker':
      return workerCommand(args, out, err);
    case 'tasks':
      return tasksCommand(args, out, err);
    default:
      throw new UsageError('coda', `unknown command ${JSON.stringify(command)}; the commands are serve, worker, tasks`);
  }
}

const out = new Output(process.stdout);
const err = new Output(process.stderr);
main(process.argv.slice(2), out, err).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      err.line(err.style('red', error.message));
      err.line(`Run ${error.command} --help for usage.`);
      process.exitCode = 2;
    } else {
      err.line(`${err.style('red', 'coda:')} ${error instanceof AppLoadError ? error.message : (error as Error)?.stack ?? String(error)}`);
      process.exitCode = 1;
    }
    // A cluster worker stays alive while its channel to the primary is open: it exits, so that the primary hears why.
    if (cluster.isWorker) process.exit();
  },
);
