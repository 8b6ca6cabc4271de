// A bounded mutation fuzz over raw sockets: valid HTTP/1.1 requests, mutated
// from a seeded PRNG (the seed and the failing case are printed, so a failure
// reproduces), sent to a real server. Each is answered with well-formed
// responses under 500 (no route here throws; a 501 is a refusal, of a
// transfer coding the server does not decode) or the connection is closed;
// nothing is logged as a server error; afterwards the server still answers,
// every after() task registered has run, and the heap has not run away.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  after as afterResponse, createApp, get, HttpResponse, JsonResponse, post, staticFiles, type HttpRequest, type Server,
} from 'coda-http';
import { assertServes, LEVEL, memoryLogger, started, startServer } from '../helpers.js';

/** Fixed, so that a failure reproduces; CODA_FUZZ_SEED and CODA_FUZZ_CASES explore further. */
const SEED = Number(process.env.CODA_FUZZ_SEED ?? 0xc0da);
const CASES = Number(process.env.CODA_FUZZ_CASES ?? 2_500);
/** Connections open at once: enough to keep both cores busy, few enough to stay deterministic in what is sent. */
const PARALLEL = 8;
/** A case whose connection is still open this long after the client's FIN is a hang. */
const CASE_TIMEOUT_MS = 5_000;
/** Silence from the server after which the client stops sending (see send()). */
const IDLE_MS = 50;

/** mulberry32: a small PRNG with a 32-bit state, enough to pick mutations. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const counts = { registered: 0, ran: 0 };

/** Registers an after() task, counted, for every request a view answers. */
function counted(request: HttpRequest): void {
  counts.registered++;
  afterResponse(() => void counts.ran++);
  void request;
}

const { logger, lines } = memoryLogger();
const root = mkdtempSync(path.join(tmpdir(), 'coda-fuzz-'));
const app = createApp({
  logger,
  bodyLimit: 4_096,
  trustProxy: true,
  routes: [
    post('/json', async (request) => {
      counted(request);
      return new JsonResponse({ got: await request.json() });
    }),
    post('/form', async (request) => {
      counted(request);
      const form = await request.form();
      const names = [...form.keys()];
      return new JsonResponse({ names, files: [...form.values()].filter((value) => typeof value !== 'string').length });
    }),
    get('/items/:id', (request) => {
      counted(request);
      const { id } = request.params;
      return new JsonResponse({ id, query: [...request.query], cookies: request.cookies.get('session') ?? null, ip: request.ip, host: request.host });
    }),
    staticFiles('/static', { root }),
    get('/ok', (request) => {
      counted(request);
      return new HttpResponse('ok');
    }),
  ],
});

/** The valid requests mutated: every body kind the app parses, and the framings that carry them. */
function seeds(): Buffer[] {
  const multipart = [
    '--XyZ', 'Content-Disposition: form-data; name="title"', '', 'hello',
    '--XyZ', 'Content-Disposition: form-data; name="file"; filename="a.txt"', 'Content-Type: text/plain', '', 'file body',
    '--XyZ--', '',
  ].join('\r\n');
  const json = '{"name":"note","tags":["a","b"],"n":1}';
  const head = (lines: string[]): string => lines.join('\r\n') + '\r\n\r\n';
  return [
    head(['GET /ok HTTP/1.1', 'Host: localhost', 'Connection: close']),
    head(['GET /items/42?sort=name&tag=%C3%A9 HTTP/1.1', 'Host: localhost', 'Connection: close', 'Cookie: session=abc; theme=dark', 'X-Forwarded-For: 10.0.0.1, 10.0.0.2']),
    head(['GET /static/hello.txt HTTP/1.1', 'Host: localhost', 'Connection: close', 'Range: bytes=0-4', 'If-None-Match: W/"x"']),
    head(['HEAD /static/hello.txt HTTP/1.1', 'Host: localhost', 'Connection: close']),
    head(['OPTIONS /items/1 HTTP/1.1', 'Host: localhost', 'Connection: close']),
    head(['POST /json HTTP/1.1', 'Host: localhost', 'Connection: close', 'Content-Type: application/json', `Content-Length: ${json.length}`]) + json,
    head(['POST /json HTTP/1.1', 'Host: localhost', 'Connection: close', 'Content-Type: application/json; charset=utf-8', 'Transfer-Encoding: chunked'])
      + `${(20).toString(16)}\r\n${json.slice(0, 20)}\r\n${(json.length - 20).toString(16)};ext=1\r\n${json.slice(20)}\r\n0\r\n\r\n`,
    head(['POST /form HTTP/1.1', 'Host: localhost', 'Connection: close', 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 21']) + 'a=1&b=%20two&c&d=%zz',
    head(['POST /form HTTP/1.1', 'Host: localhost', 'Connection: close', 'Content-Type: multipart/form-data; boundary=XyZ', `Content-Length: ${multipart.length}`]) + multipart,
    head(['POST /json HTTP/1.1', 'Host: localhost', 'Connection: close', 'Content-Type: application/json', 'Expect: 100-continue', `Content-Length: ${json.length}`]) + json,
    // Two requests pipelined on one connection.
    head(['GET /ok HTTP/1.1', 'Host: localhost']) + head(['GET /items/7 HTTP/1.1', 'Host: localhost', 'Connection: close']),
  ].map((text) => Buffer.from(text, 'latin1'));
}

/** Bytes a mutation inserts or writes: the ones that matter to a parser, and any byte at all. */
const SPECIAL = Buffer.from('\r\n\0 \t:;,=%-+"/\\?#*0123456789aAfFzZ\x7f\x80\xff', 'latin1');

interface Case {
  readonly bytes: Buffer;
  /** Where the bytes are cut into separate writes. */
  readonly splits: number[];
  readonly mutations: string[];
}

function mutate(base: Buffer, random: () => number): Case {
  const pick = (n: number): number => Math.floor(random() * n);
  const byte = (): number => (random() < 0.7 ? SPECIAL[pick(SPECIAL.length)]! : pick(256));
  let bytes = base;
  const mutations: string[] = [];
  const steps = 1 + pick(3);
  for (let i = 0; i < steps; i++) {
    // Half the time inside the body, when there is one: past the head, where the body parsers work.
    const bodyStart = bytes.indexOf('\r\n\r\n') + 4;
    const inBody = bodyStart > 3 && bodyStart < bytes.length && random() < 0.5;
    const at = inBody ? bodyStart + pick(bytes.length - bodyStart + 1) : pick(bytes.length + 1);
    switch (pick(8)) {
      case 0: {
        const copy = Buffer.from(bytes);
        if (at < copy.length) copy[at] = byte();
        bytes = copy;
        mutations.push(`set byte ${at}`);
        break;
      }
      case 1: {
        const inserted = Buffer.from(Array.from({ length: 1 + pick(4) }, byte));
        bytes = Buffer.concat([bytes.subarray(0, at), inserted, bytes.subarray(at)]);
        mutations.push(`insert ${inserted.toString('hex')} at ${at}`);
        break;
      }
      case 2: {
        const length = 1 + pick(8);
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + length)]);
        mutations.push(`delete ${length} at ${at}`);
        break;
      }
      case 3: {
        bytes = bytes.subarray(0, at);
        mutations.push(`truncate at ${at}`);
        break;
      }
      case 4: {
        // Repeat or drop one header line (Host, Content-Length and Transfer-Encoding among them).
        const text = bytes.toString('latin1');
        const headerLines = text.slice(0, text.indexOf('\r\n\r\n') + 2).split('\r\n').slice(1, -1);
        if (headerLines.length === 0) break;
        const line = headerLines[pick(headerLines.length)]!;
        const repeat = random() < 0.5;
        bytes = Buffer.from(text.replace(`${line}\r\n`, repeat ? `${line}\r\n${line}\r\n` : ''), 'latin1');
        mutations.push(`${repeat ? 'repeat' : 'drop'} header ${JSON.stringify(line)}`);
        break;
      }
      case 5: {
        const text = bytes.toString('latin1');
        const lengths = ['0', '1', '-1', '99999999', '4097', ' 5', '5 5', '0x10', String(pick(200))];
        const value = lengths[pick(lengths.length)]!;
        bytes = Buffer.from(text.replace(/Content-Length: [^\r]*/i, `Content-Length: ${value}`), 'latin1');
        mutations.push(`Content-Length ${value}`);
        break;
      }
      case 6: {
        const text = bytes.toString('latin1');
        const headers = [
          'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, identity', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding:  chunked',
          'Expect: 100-continue', 'Expect: 200-ok', 'Content-Type: multipart/form-data', 'Content-Type: application/json; charset=latin1',
          'Content-Type: text/plain; charset=nope', 'X-Forwarded-For: [::1, 300.1.1.1,,', 'Forwarded: for="[::1', 'Range: bytes=5-1,-0',
        ];
        const header = headers[pick(headers.length)]!;
        const end = text.indexOf('\r\n') + 2;
        bytes = Buffer.from(text.slice(0, end) + `${header}\r\n` + text.slice(end), 'latin1');
        mutations.push(`add ${JSON.stringify(header)}`);
        break;
      }
      default: {
        // A long run of one byte: long tokens, long lines, long chunk sizes.
        const run = Buffer.alloc(1 + pick(9_000), byte());
        bytes = Buffer.concat([bytes.subarray(0, at), run, bytes.subarray(at)]);
        mutations.push(`insert ${run.length} x ${run[0]} at ${at}`);
      }
    }
  }
  const splits = Array.from({ length: pick(4) }, () => pick(bytes.length + 1)).sort((a, b) => a - b);
  return { bytes, splits, mutations };
}

/**
 * Sends a case in its pieces and gives back all the server wrote once it has
 * closed the connection. The seeds ask for `Connection: close`; a request the
 * server still waits on (cut short, a longer Content-Length) is ended with a
 * FIN once nothing has come for IDLE_MS: a FIN sent at once would abort every
 * request whose view awaits something (Node's half-close handling), and the
 * async views would go untested. Either way the checks hold.
 */
async function send(server: Server, fuzzCase: Case): Promise<Buffer> {
  const socket = net.connect(server.port, '127.0.0.1');
  const received: Buffer[] = [];
  let idle: NodeJS.Timeout | undefined;
  let hang: NodeJS.Timeout | undefined;
  const finish = (): void => {
    socket.end();
    hang ??= setTimeout(() => socket.destroy(new Error(`the connection was still open ${CASE_TIMEOUT_MS} ms after the client finished`)), CASE_TIMEOUT_MS);
  };
  socket.on('data', (data: Buffer) => {
    received.push(data);
    idle?.refresh();
  });
  const closed = new Promise<void>((resolve, reject) => {
    socket.on('error', (error) => (error.message.startsWith('the connection') ? reject(error) : undefined)); // A reset after the answer is a close.
    socket.on('close', () => resolve());
  });
  let from = 0;
  for (const at of [...fuzzCase.splits, fuzzCase.bytes.length]) {
    if (socket.destroyed) break;
    socket.write(fuzzCase.bytes.subarray(from, at));
    from = at;
    // Each piece in its own turn of the event loop: the server reads them apart.
    await new Promise((resolve) => setImmediate(resolve));
  }
  idle = setTimeout(finish, IDLE_MS);
  try {
    await closed;
  } finally {
    clearTimeout(idle);
    clearTimeout(hang);
    socket.destroy();
  }
  return Buffer.concat(received);
}

interface Answer {
  readonly status: number;
  /** The body's length, or undefined for a response without one (HEAD, 1xx, 204, 304). */
  readonly bodyLength: number | undefined;
}

/** Every response in `raw`, which must be whole, well-formed HTTP/1.1 responses (a body may be cut by the close). */
function answers(raw: Buffer, head: boolean): Answer[] {
  const found: Answer[] = [];
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end === -1) throw new Error(`an incomplete response head: ${JSON.stringify(raw.subarray(at, at + 200).toString('latin1'))}`);
    const [statusLine, ...headerLines] = raw.subarray(at, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine!);
    if (match === null) throw new Error(`a malformed status line: ${JSON.stringify(statusLine)}`);
    const status = Number(match[1]);
    const headers = new Map(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    at = end + 4;
    if (head) {
      // Its answer has no body, unless the request was refused before its method was known; then the connection closes.
      found.push({ status, bodyLength: undefined });
      if (headers.get('connection') === 'close') break;
      continue;
    }
    if (status < 200 || status === 204 || status === 304) {
      found.push({ status, bodyLength: undefined });
      continue;
    }
    const declared = headers.get('content-length');
    if (declared === undefined && headers.get('transfer-encoding') === 'chunked') {
      const body = chunked(raw, at);
      found.push({ status, bodyLength: body.length });
      at = body.end;
    } else {
      // Without a length, the body runs to the close.
      const bodyLength = Math.min(declared === undefined ? Infinity : Number(declared), raw.length - at);
      found.push({ status, bodyLength });
      at += bodyLength;
    }
  }
  return found;
}

/** Where a chunked body that starts at `at` ends, and how many bytes its chunks hold. */
function chunked(raw: Buffer, at: number): { end: number; length: number } {
  let length = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd === -1) return { end: raw.length, length };
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error(`a malformed chunk size: ${JSON.stringify(raw.subarray(at, lineEnd).toString('latin1'))}`);
    at = lineEnd + 2 + size + 2;
    length += size;
    if (size === 0) return { end: at, length };
  }
}

let server: Server;
started(async () => {
  writeFileSync(path.join(root, 'hello.txt'), 'hello, static world');
  return server = await startServer(app, { headersTimeoutMs: 2_000, requestTimeoutMs: 3_000 });
}, (server) => server.close({ timeoutMs: 1_000 }));
after(() => rmSync(root, { recursive: true, force: true }));

test(`${CASES} mutated requests (seed ${SEED}): answered under 500 (or 501) or closed, never a crash, a hang or a lost task`, { timeout: 60_000 }, async () => {
  const random = prng(SEED);
  const bases = seeds();
  const cases = Array.from({ length: CASES }, (_, index) => ({ index, ...mutate(bases[index % bases.length]!, random) }));
  const heapBefore = process.memoryUsage().heapUsed;
  const failures: string[] = [];
  const seen = new Map<number, number>();
  let next = 0;
  async function worker(): Promise<void> {
    while (next < cases.length && failures.length === 0) {
      const fuzzCase = cases[next++]!;
      const describeCase = (): string =>
        `seed ${SEED}, case ${fuzzCase.index}: ${fuzzCase.mutations.join('; ')}; splits ${JSON.stringify(fuzzCase.splits)}\n` +
        `  sent ${JSON.stringify(fuzzCase.bytes.subarray(0, 600).toString('latin1'))}`;
      try {
        const raw = await send(server, fuzzCase);
        const head = fuzzCase.bytes.subarray(0, 5).toString('latin1') === 'HEAD ';
        for (const { status, bodyLength } of answers(raw, head)) {
          seen.set(status, (seen.get(status) ?? 0) + 1);
          const wrong = status >= 500 && status !== 501 ? 'a server error' : status >= 400 && bodyLength === 0 ? 'a refusal that does not say why' : undefined;
          if (wrong !== undefined) failures.push(`${describeCase()}\n  ${wrong}: ${JSON.stringify(raw.subarray(0, 400).toString('latin1'))}`);
        }
      } catch (error) {
        failures.push(`${describeCase()}\n  ${(error as Error).message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (process.env.CODA_FUZZ_SEED !== undefined) console.log([...seen].sort((a, b) => a[0] - b[0]));
  assert.deepEqual(failures, []);

  await assertServes(server, '/ok', 'ok');
  await app.settle();
  assert.equal(app.requestsInFlight, 0);
  assert.ok(counts.registered > CASES / 10, `views ran for enough cases to count (${counts.registered})`);
  assert.equal(counts.ran, counts.registered, 'every after() task registered ran');
  const errors = lines.filter((line) => line.level >= LEVEL.error);
  assert.deepEqual(errors, [], 'nothing was logged as a server error');
  const grown = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 64 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1024 / 1024)} MiB over ${CASES} requests`);
});
