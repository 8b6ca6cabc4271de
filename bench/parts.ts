/**
 * The results of the benchmarks other than `npm run bench` (adapters,
 * observability, BullMQ, static files, the SQLite store): each writes its
 * part, bench/results-<name>.json, and bench/report.ts puts every part in
 * bench/RESULTS.md beside the main run, targets first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  /** The last commit that changed src/, hash and subject. */
  coda: string;
}

export function machine(): Machine {
  let coda = 'unknown';
  try {
    coda = execFileSync('git', ['log', '-1', '--format=%h %s', '--', 'src'], { encoding: 'utf8' }).trim().slice(0, 90);
  } catch { /* not a git checkout */ }
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, coda };
}

/** A target as an issue states it, what was measured, and whether it is met (null: a figure asked for, nothing to decide; JSON keeps null, not undefined). */
export type TargetRow = [target: string, measured: string, met: boolean | null];

export interface Part {
  /** The section's title in RESULTS.md. */
  title: string;
  /** The command that wrote it, as a reader would type it. */
  command: string;
  targets: TargetRow[];
  /** Markdown: how it was measured, and the table. */
  lines: string[];
}

export interface WrittenPart extends Part {
  name: string;
  date: string;
  node: string;
  machine: Machine;
}

/** bench/ of the checkout, whether this runs from dist-bench/bench (built) or from bench/ (through tsx). */
function benchDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = dirname(dir);
  }
  return join(dir, 'bench');
}
const PART_FILE = /^results-([a-z]+)\.json$/;

/** Writes bench/results-<name>.json; `npm run bench:report` (or the next `npm run bench`) puts it in RESULTS.md. */
export function writePart(name: string, part: Part): string {
  const file = join(benchDir(), `results-${name}.json`);
  const written: WrittenPart = { name, date: new Date().toISOString(), node: process.version, machine: machine(), ...part };
  writeFileSync(file, `${JSON.stringify(written, null, 2)}\n`);
  return file;
}

/** Every part written so far, in a fixed order. */
export function readParts(dir: string): WrittenPart[] {
  return readdirSync(dir)
    .filter((file) => PART_FILE.test(file))
    .sort()
    .map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as WrittenPart);
}
