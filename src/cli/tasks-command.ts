import { TASK_STATES } from '../durable/checks.js';
import type { StoredTask, TaskState, TaskStore } from '../durable/store.js';
import { appTasks, openToInspect } from './app-tasks.js';
import { loadApp } from './load-app.js';
import { printable, type Output } from './output.js';
import { echo } from '../util/echo.js';
import { integer, parse, suggest, UsageError, type Parsed } from './usage.js';

const ACTIONS = ['stats', 'list', 'retry', 'discard'] as const;
type Action = (typeof ACTIONS)[number];

// Each flag's help line, shared by the general help and each action's (in this order).
const FLAG_LINES = {
  state: '      --state <state>            held, ready, running, completed or failed',
  name: '      --name <task>              tasks of this name only',
  limit: '      --limit <n>                at most n (default 100)',
  'all-failed': '      --all-failed               every failed task (with --name: of that name)',
  json: '      --json                     print JSON instead of a table',
  help: '  -h, --help                     show this help',
} as const;
type Flag = keyof typeof FLAG_LINES;

const ACTION_USAGE: Record<Action, { synopsis: string; what: string; about: string; flags: Flag[]; example: string }> = {
  stats: {
    synopsis: 'stats <module>', what: 'counts by state, in all and per task name', flags: ['json'], example: 'stats ./app.ts --json',
    about: 'Counts the durable tasks in the store of the app that <module> exports, by\nstate: in all and per task name.',
  },
  list: {
    synopsis: 'list <module>', what: 'tasks, newest first', flags: ['state', 'name', 'limit', 'json'], example: 'list ./app.ts --state failed',
    about: 'Lists the durable tasks in the store of the app that <module> exports,\nnewest first.',
  },
  retry: {
    synopsis: 'retry <module> <id>...', what: 'run failed tasks again, attempts counted afresh', flags: ['all-failed', 'name', 'json'], example: 'retry ./app.ts --all-failed --name send-welcome',
    about: 'Runs failed durable tasks again, their attempts counted afresh: the tasks\nwith these ids, or every failed one, in the store of the app that <module>\nexports. A worker or a web process of the app runs them.',
  },
  discard: {
    synopsis: 'discard <module> <id>...', what: 'remove tasks that are not running', flags: ['all-failed', 'name', 'json'], example: 'discard ./app.ts --all-failed',
    about: 'Removes durable tasks that are not running from the store of the app that\n<module> exports: the tasks with these ids, or every failed one.',
  },
};

const EXIT_CODES = `Exit codes: 0 done, 1 a task could not be retried or discarded (or the store
failed), 2 bad usage.`;

const TASKS_HELP = `Usage: coda tasks <action> <module> [options]

Looks at and operates on the durable tasks in the store of the app that
<module> exports (the app is loaded, not served; its tasks are not run here).

Actions:
${ACTIONS.map((action) => `  ${ACTION_USAGE[action].synopsis.padEnd(31)}${ACTION_USAGE[action].what}`).join('\n')}

Options:
${Object.values(FLAG_LINES).join('\n')}

Run coda tasks <action> --help for an action's own options.

${EXIT_CODES}

Examples:
  coda tasks ${ACTION_USAGE.list.example}
  coda tasks ${ACTION_USAGE.retry.example}`;

/** What `coda tasks <action> --help` prints: that action's usage and flags only. */
function actionHelp(action: Action): string {
  const { synopsis, about, flags, example } = ACTION_USAGE[action];
  const acting = action === 'retry' || action === 'discard';
  return `Usage: coda tasks ${synopsis} [options]

${about}

Options:
${[...flags, 'help' as const].map((flag) => FLAG_LINES[flag]).join('\n')}

${acting ? EXIT_CODES : 'Exit codes: 0 done, 1 the store failed, 2 bad usage.'}

Example:
  coda tasks ${example}`;
}

const COUNTS = ['held', 'ready', 'delayed', 'running', 'completed', 'failed'] as const;

const OPTIONS = {
  state: { type: 'string' },
  name: { type: 'string' },
  limit: { type: 'string' },
  'all-failed': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** `coda tasks`: resolves with the exit code. */
export async function tasksCommand(args: string[], out: Output, progress: Output): Promise<number> {
  const action = args[0];
  if (action === undefined) {
    // A usage error, as a bare `coda` is: the help goes to stderr, leaving stdout (often piped to a JSON reader) empty.
    progress.line(TASKS_HELP);
    return 2;
  }
  checkAction(action);
  const command = `coda tasks ${action}`;
  const acting = action === 'retry' || action === 'discard';
  const parsed = parse(command, args.slice(1), OPTIONS, { min: 1, max: acting ? Infinity : 1 });
  const limit = checkFlags(command, action, parsed);
  const module = parsed.positionals[0]!;
  const { store } = appTasks(await loadApp(module), module, 'inspect');
  await openToInspect(store);
  try {
    return await run(action, store, parsed, limit, out, progress);
  } finally {
    await store.close();
  }
}

/** What `coda tasks [<action>] --help` prints (for `coda help tasks [<action>]`); a UsageError naming an action that is none. */
export function tasksHelp(action: string | undefined): string {
  if (action === undefined) return TASKS_HELP;
  checkAction(action);
  return actionHelp(action);
}

function checkAction(action: string): asserts action is Action {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError('coda tasks', `unknown action ${JSON.stringify(action)}; ${suggest(action, ACTIONS, 'actions')}`);
}

/** Flags that do not belong to this action, and a retry or discard without ids, are usage errors; returns `--limit`, checked before the app loads as the others are. */
function checkFlags(command: string, action: Action, { values, positionals }: Parsed): number {
  const allowed: readonly string[] = ACTION_USAGE[action].flags;
  for (const [flag, value] of Object.entries(values)) {
    if (value !== undefined && flag !== 'help' && !allowed.includes(flag)) throw new UsageError(command, `--${flag} does not apply to ${action}`);
  }
  const state = values['state'];
  if (typeof state === 'string' && !(TASK_STATES as readonly string[]).includes(state)) {
    // `stats` counts delayed tasks apart: a user reading its column asks for them by that word.
    const delayed = state === 'delayed' ? ': a delayed task is a ready one whose time has not come, listed by --state ready' : '';
    throw new UsageError(command, `--state must be one of ${TASK_STATES.join(', ')}, got ${JSON.stringify(state)}${delayed}`);
  }
  const limit = integer(command, 'limit', values['limit'], 100, 1);
  if (action !== 'retry' && action !== 'discard') return limit;
  const all = values['all-failed'] === true;
  if (all && positionals.length > 1) throw new UsageError(command, `give task ids or --all-failed, not both`);
  if (!all && positionals.length < 2) throw new UsageError(command, `which tasks? give their ids, or --all-failed`);
  if (!all && values['name'] !== undefined) throw new UsageError(command, `--name goes with --all-failed`);
  return limit;
}

async function run(action: Action, store: TaskStore, { values, positionals }: Parsed, limit: number, out: Output, progress: Output): Promise<number> {
  const json = values['json'] === true;
  const name = typeof values['name'] === 'string' ? values['name'] : undefined;
  if (action === 'stats') {
    const stats = await store.stats(Date.now());
    if (json) out.line(JSON.stringify(stats));
    else printStats(stats, out);
    return 0;
  }
  if (action === 'list') {
    const state = values['state'] as TaskState | undefined;
    const tasks = await store.list({ ...(state && { state }), ...(name && { name }), limit });
    if (json) out.line(JSON.stringify(tasks));
    else printList(tasks, out);
    return 0;
  }
  const ids = values['all-failed'] === true ? await failedIds(store, name, progress) : positionals.slice(1);
  return act(action, ids, store, json, out, progress);
}

/** How many failed tasks `--all-failed` reads at once: their ids are kept, the tasks let go. */
export const FAILED_PAGE = 1_000;

/**
 * The ids of every failed task (of `name`, if given), read a page at a time: it read them all whole at once (some
 * 850 MB for 200,000 failed tasks of 1 kB). The pages are walked to the end before any is acted on.
 */
async function failedIds(store: TaskStore, name: string | undefined, progress: Output): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null | undefined;
  do {
    progress.progress(`finding failed tasks: ${ids.length}`);
    const page = await store.listPage({ state: 'failed', ...(name && { name }), limit: FAILED_PAGE, ...(after && { after }) });
    for (const task of page.tasks) ids.push(task.id);
    after = page.next;
  } while (after !== null);
  return ids;
}

/**
 * Retries or discards each task, a progress line on a terminal, one line per task it could not act on. A store
 * failure midway stops it: what it did is told all the same (with the tasks it did not get to), then the failure.
 */
async function act(action: 'retry' | 'discard', ids: string[], store: TaskStore, json: boolean, out: Output, progress: Output): Promise<number> {
  const done: string[] = [];
  const refused: { id: string; reason: string }[] = [];
  let failure: { error: unknown } | undefined;
  try {
    for (const [i, id] of ids.entries()) {
      progress.progress(`${action === 'retry' ? 'retrying' : 'discarding'} ${i + 1}/${ids.length}`);
      const ok = action === 'retry' ? await store.retry(id, Date.now()) : await store.discard(id);
      if (ok) {
        done.push(id);
        continue;
      }
      refused.push({ id, reason: await whyRefused(action, id, store) });
    }
  } catch (error) {
    failure = { error };
  }
  progress.progress('');
  const verb = action === 'retry' ? 'retried' : 'discarded';
  const untried = ids.slice(done.length + refused.length);
  if (json) {
    out.line(JSON.stringify({ [verb]: done, refused, ...(failure && { untried }) }));
  } else {
    for (const { id, reason } of refused) out.line(out.style('red', `${id}: not ${verb}: ${reason}`));
    const stopped = failure ? `; stopped by the store's failure (below), ${untried.length} not tried` : '';
    out.line(`${done.length} task(s) ${verb}${refused.length > 0 ? `, ${refused.length} refused` : ''}${stopped}`);
  }
  if (failure) throw failure.error;
  return refused.length > 0 ? 1 : 0;
}

/** Why a task was not retried or discarded: gone, in a state that forbids it, or (a failed task not retried) another pending task keeps its key. */
async function whyRefused(action: 'retry' | 'discard', id: string, store: TaskStore): Promise<string> {
  const task = await store.get(id);
  if (task === null) return 'no such task';
  if (action === 'retry' && task.state === 'failed' && task.key !== null) {
    const holder = await store.keyHolder(task.name, task.key);
    const state = holder === null ? undefined : (await store.get(holder))?.state;
    // A running task cannot be discarded (discard refuses it): only its end frees the key.
    const or = state === 'running' ? '' : ', or discard that one';
    // A key is often request data: shown printable, as the list shows errors.
    if (state !== undefined) return `task ${printable(holder!)} (${state}) keeps its key ${printable(JSON.stringify(task.key))}: retry it once that one has ended${or}`;
  }
  return `it is ${task.state}`;
}

function printStats(stats: Awaited<ReturnType<TaskStore['stats']>>, out: Output): void {
  const row = (label: string, counts: Record<(typeof COUNTS)[number], number>): string[] =>
    [label, ...COUNTS.map((state) => (state === 'failed' && counts.failed > 0 ? out.style('red', String(counts.failed)) : String(counts[state])))];
  const names = Object.keys(stats.byName).sort();
  out.table([['task', ...COUNTS], ...names.map((name) => row(name, stats.byName[name]!)), row('all', stats)], new Set([1, 2, 3, 4, 5, 6]));
}

function printList(tasks: StoredTask[], out: Output): void {
  if (tasks.length === 0) {
    out.line('no tasks');
    return;
  }
  const colour = { failed: 'red', completed: 'green', running: 'cyan', ready: 'yellow', held: 'dim' } as const;
  out.table([
    ['id', 'name', 'state', 'attempts', 'created', 'last error'],
    ...tasks.map((task) => [
      printable(task.id), printable(task.name), out.style(colour[task.state], task.state), `${task.attempt}/${task.maxAttempts}`,
      new Date(task.createdAt).toISOString(), errorCell(task.errors.at(-1)?.message ?? ''),
    ]),
  ]);
}

/**
 * A task's error as one table cell: shown printable (see output.ts), cut to 200 characters (--json has it whole): a
 * long upstream answer quoted in an error would otherwise make every row as wide.
 */
function errorCell(message: string): string {
  // Cut first: a cut after escaping could split an escape (\u001b) in two.
  return printable(echo(message));
}
