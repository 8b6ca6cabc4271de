/** Starting and stopping one benchmark server in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Framework, Ready, Scenario } from './shared.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface ServerProcess {
  framework: Framework;
  scenario: Scenario;
  child: ChildProcess;
  port: number;
  control: number;
}

/** Starts `servers/<framework>.js <scenario>` (pinned to `cpus` when given) and waits for its ready line. */
export async function startServer(framework: Framework, scenario: Scenario, cpus: string | undefined, nodeFlags: string[] = []): Promise<ServerProcess> {
  const { child, ready } = await startScript<Ready>(join(here, 'servers', `${framework}.js`), [scenario, '0'], `${framework} (${scenario})`, cpus, nodeFlags);
  return { framework, scenario, child, port: ready.port, control: ready.control };
}

/** Starts `script` with `args` (pinned to `cpus` when given) and waits for its first stdout line, a JSON ready line. */
export async function startScript<R>(script: string, args: string[], label: string, cpus: string | undefined, nodeFlags: string[] = []): Promise<{ child: ChildProcess; ready: R }> {
  const argv = [...nodeFlags, script, ...args];
  const child = cpus === undefined
    ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('taskset', ['-c', cpus, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<R>((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`${label} did not start: ${why}\n${stderr}`));
    const timer = setTimeout(() => fail('no ready line within 30 s'), 30_000);
    child.once('exit', (code) => fail(`exited with ${code}`));
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as R);
      } catch {
        fail(`first line is not the ready line: ${line}`);
      }
    });
  });
  child.removeAllListeners('exit');
  lines.on('line', () => {}); // keep draining
  return { child, ready };
}

/** SIGTERM (the servers exit at once, writing a --cpu-prof profile), SIGKILL after 10 s. */
export function stopServer({ child }: { child: ChildProcess }): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
