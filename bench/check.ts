/**
 * Correctness checks, run before any timing and after every load: each
 * server's answers (status, body, content type, the five stack headers), and
 * its counters (requests it saw = requests sent; after tasks run = responses).
 */
import { HELLO, STACK_HEADERS, ERROR_EVERY, type Scenario } from './shared.js';

/** A running server as the checks see it. `sent` counts every request the driver made to it. */
export interface Target {
  name: string;
  scenario: Scenario;
  port: number;
  control: number;
  sent: number;
}

/** The request headers the stack middlewares read, for path id `id`. */
export function stackHeaders(id: string): Record<string, string> {
  return Object.fromEntries(STACK_HEADERS.map((name, i) => [name, `v${i + 1}-${id}`]));
}

async function get(target: Target, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  target.sent++;
  const response = await fetch(`http://127.0.0.1:${target.port}${path}`, { headers });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

async function checkUser(target: Target, id: string, problems: string[]): Promise<void> {
  const sent = stackHeaders(id);
  const { status, headers, body } = await get(target, `/users/${id}`, sent);
  const where = `GET /users/${id}`;
  if (status !== 200) return void problems.push(`${where}: status ${status}, expected 200`);
  if (!/^application\/json/i.test(headers.get('content-type') ?? '')) problems.push(`${where}: content-type ${headers.get('content-type')}`);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    value = body;
  }
  if (JSON.stringify(value) !== JSON.stringify({ id })) problems.push(`${where}: body ${body}, expected {"id":"${id}"}`);
  for (const name of STACK_HEADERS) {
    if (headers.get(name) !== sent[name]) problems.push(`${where}: header ${name} is ${headers.get(name)}, expected ${sent[name]}`);
  }
}

/** Checks a freshly started server's answers; call before any other request reaches it. Returns the problems found. */
export async function checkAnswers(target: Target): Promise<string[]> {
  const problems: string[] = [];
  if (target.scenario === 'hello') {
    for (let i = 0; i < 3; i++) {
      const { status, headers, body } = await get(target, '/');
      if (status !== 200) problems.push(`GET /: status ${status}, expected 200`);
      if (body !== HELLO) problems.push(`GET /: body ${JSON.stringify(body)}, expected ${JSON.stringify(HELLO)}`);
      if (!/^text\/plain/i.test(headers.get('content-type') ?? '')) problems.push(`GET /: content-type ${headers.get('content-type')}`);
    }
  } else if (target.scenario === 'errors') {
    // The server's first requests: the 10th and the 20th fail.
    for (let n = 1; n <= 2 * ERROR_EVERY; n++) {
      if (n % ERROR_EVERY !== 0) {
        await checkUser(target, String(n), problems);
        continue;
      }
      const { status } = await get(target, `/users/${n}`, stackHeaders(String(n)));
      if (status !== 500) problems.push(`request ${n} of ${2 * ERROR_EVERY}: status ${status}, expected 500`);
    }
  } else {
    for (const id of ['42', 'abc-7', 'x']) await checkUser(target, id, problems);
  }
  const shown = problems.slice(0, 5);
  if (problems.length > shown.length) shown.push(`... and ${problems.length - shown.length} more`);
  return shown.map((problem) => `${target.name}: ${problem}`);
}

/** Compares the server's counters with the requests sent. The server answers once its pending after tasks have run. */
export async function checkCounts(target: Target): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${target.control}/__count`);
  const { served, after } = (await response.json()) as { served: number; after: number };
  const problems: string[] = [];
  if (served !== target.sent) problems.push(`the server saw ${served} requests, the driver sent ${target.sent}`);
  if (target.scenario !== 'hello' && after !== served) problems.push(`${after} after tasks ran for ${served} responses`);
  return problems.map((problem) => `${target.name}: ${problem}`);
}
