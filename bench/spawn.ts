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
  const args = [...nodeFlags, join(here, 'servers', `${framework}.js`), scenario, '0'];
  const child = cpus === undefined
    ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('taskset', ['-c', cpus, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<Ready>((resolve, reject) => {
    const fail = (why: string): void => reject(new Error(`${framework} (${scenario}) did not start: ${why}\n${stderr}`));
    const timer = setTimeout(() => fail('no ready line within 30 s'), 30_000);
    child.once('exit', (code) => fail(`exited with ${code}`));
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Ready);
      } catch {
        fail(`first line is not the ready line: ${line}`);
      }
    });
  });
  child.removeAllListeners('exit');
  lines.on('line', () => {}); // keep draining
  return { framework, scenario, child, port: ready.port, control: ready.control };
}

/** SIGTERM (the servers exit at once, writing a --cpu-prof profile), SIGKILL after 10 s. */
export function stopServer({ child }: ServerProcess): Promise<void> {
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
