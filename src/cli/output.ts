import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/**
 * What the command line writes: colour and a progress line on a terminal,
 * plain lines in a pipe or a file. Colour follows the usual conventions:
 * `NO_COLOR` (any value but empty) turns it off, `FORCE_COLOR` (not `0`) on, `TERM=dumb` off.
 */
export class Output {
  readonly #stream: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #colour: boolean;
  #progressShown = false;

  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.#stream = stream;
    const { env } = process;
    const forced = env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0';
    this.#colour = (env['NO_COLOR'] ?? '') === '' && (forced || (stream.isTTY === true && env['TERM'] !== 'dumb'));
  }

  /** Whether this stream is a terminal (progress lines are drawn only there). */
  get terminal(): boolean {
    return this.#stream.isTTY === true;
  }

  style(style: Style, text: string): string {
    return this.#colour ? styleText(style, text, { validateStream: false }) : text;
  }

  line(text = ''): void {
    this.#clearProgress();
    this.#stream.write(`${text}\n`);
  }

  /** A progress line redrawn in place on a terminal; nothing in a pipe (the result lines say it all). */
  progress(text: string): void {
    if (!this.terminal) return;
    this.#stream.write(`\r\x1b[2K${this.style('dim', text)}`);
    this.#progressShown = true;
  }

  #clearProgress(): void {
    if (!this.#progressShown) return;
    this.#stream.write('\r\x1b[2K');
    this.#progressShown = false;
  }

  /** Rows as columns aligned with spaces; the first row is the header. */
  table(rows: string[][], numeric: ReadonlySet<number> = new Set()): void {
    // A loop, not Math.max(...): `coda tasks list --limit` past some 125,000 rows passed the engine's limit on arguments.
    const widths = rows[0]!.map((_, i) => rows.reduce((widest, row) => Math.max(widest, visibleLength(row[i] ?? '')), 0));
    rows.forEach((row, r) => {
      const cells = row.map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - visibleLength(cell));
        return numeric.has(i) ? pad + cell : cell + pad;
      });
      const text = cells.join('  ').trimEnd();
      this.line(r === 0 ? this.style('bold', text) : text);
    });
  }
}

/**
 * What a terminal acts on rather than shows: C0 controls (escape sequences,
 * a carriage return that overwrites the line), DEL, C1 controls, and the
 * line separators and bidirectional overrides that move or reorder text.
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` from the store (a task's error message, which may quote request
 * data) as one line that shows every character: each control written as its
 * escape (`\n`, `\u001b`), so that it can neither break the table nor drive
 * the terminal (clear it, retitle it, forge a line).
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (char) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A colour or style escape (SGR): it takes no column on a terminal. */
const ANSI = /\x1b\[[0-9;]*m/g;

function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}
