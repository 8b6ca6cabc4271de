#!/usr/bin/env node
// The `coda` command: serve an app, run its durable tasks, operate on them.
import cluster from 'node:cluster';
import { AppLoadError } from './load-app.js';
import { Output } from './output.js';
import { SERVE_HELP, serveCommand } from './serve-command.js';
import { TASKS_HELP, tasksCommand } from './tasks-command.js';
import { UsageError } from './usage.js';
import { WORKER_HELP, workerCommand } from './worker-command.js';

const HELP = `Usage: coda <command> [options]

Commands:
  serve <module>            serve the app the module exports (--port, --host, --workers)
  worker <module>           run the app's durable tasks from its store
  tasks <action> <module>   stats, list, retry or discard durable tasks in the app's store
  help [command]            show help for a command

Run coda <command> --help for a command's options.`;

const HELPS: Record<string, string> = { serve: SERVE_HELP, worker: WORKER_HELP, tasks: TASKS_HELP };

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
    case 'help': {
      const topic = args[0];
      if (topic !== undefined && HELPS[topic] === undefined) throw new UsageError('coda help', `unknown command ${JSON.stringify(topic)}`);
      out.line(topic === undefined ? HELP : HELPS[topic]!);
      return 0;
    }
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
