// Every command's help lines its options up as one table: long names in one
// column (a short name before them, or its room left blank), descriptions in another.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVE_HELP } from '../../src/cli/serve-command.js';
import { tasksHelp } from '../../src/cli/tasks-command.js';
import { WORKER_HELP } from '../../src/cli/worker-command.js';

/** The option lines of a help text: those of its Options: section that name an option. */
function optionLines(help: string): string[] {
  const section = help.split('\nOptions:\n')[1];
  assert.ok(section !== undefined, `an Options: section in\n${help}`);
  return section.split('\n\n')[0]!.split('\n').filter((line) => /^\s*-/.test(line));
}

const helps: Record<string, string> = {
  'coda serve': SERVE_HELP,
  'coda worker': WORKER_HELP,
  'coda tasks': tasksHelp(undefined),
  ...Object.fromEntries(['stats', 'list', 'retry', 'discard'].map((action) => [`coda tasks ${action}`, tasksHelp(action)])),
};

test('each command\'s help aligns its long option names and their descriptions (coda worker --help had its long-only options out of line)', () => {
  for (const [command, help] of Object.entries(helps)) {
    const lines = optionLines(help);
    assert.ok(lines.length >= 2, `${command}: ${lines.length} option lines`);
    const longAt = new Set(lines.map((line) => line.indexOf('--')));
    assert.deepEqual([...longAt], [6], `${command}: long names start in column 6 (after "  -x, "):\n${lines.join('\n')}`);
    const describedAt = new Set(lines.map((line) => /^\s*(?:-\w, )?--\S+(?: <[^>]+>)? +/.exec(line)![0].length));
    assert.equal(describedAt.size, 1, `${command}: descriptions start in one column:\n${lines.join('\n')}`);
  }
});
