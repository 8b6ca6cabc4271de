import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log/logger.js';
import { adoptedExchange } from '../transport/node/adopt.js';

/** What Fastify (5.10 and later) gives its internal log lines to, `LogController`'s `streamError` among them. */
interface LogController {
  streamError(error: Error, request: FastifyRequest, reply: FastifyReply, metadata?: unknown): void;
}

/**
 * Where Fastify keeps an instance's LogController: a symbol of its own
 * (`lib/symbols.js`), not exported, so found by its description. No public
 * API reaches it from a plugin (the `logController` option is the app's,
 * given to `Fastify()`): a test (fastify-stream-errors.test.ts) fails saying
 * so if Fastify renames it, and a plugin on a Fastify that should have it
 * warns once (see `noteStreamErrors`).
 */
const DESCRIPTION = 'fastify.logController';

/** The first Fastify whose internal log lines go through a LogController. */
const FIRST = [5, 10];

/** The key of `fastify`'s LogController; undefined on a Fastify without one (before 5.10), or one that renamed it. */
export function logControllerKey(fastify: object): symbol | undefined {
  for (let at: object | null = fastify; at !== null; at = Object.getPrototypeOf(at)) {
    const found = Object.getOwnPropertySymbols(at).find((symbol) => symbol.description === DESCRIPTION);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A reply's stream (Node's or a web one) that fails once the head is out is
 * reported by Fastify only to its log, through its LogController's
 * `streamError`, just before it destroys the response without the error:
 * the instance's controller is given one that notes the error for the outcome
 * first (the same call reports a client that left, which `failed()` ignores).
 * Over HTTP/2 the response is destroyed with the error, so that its client
 * sees it fail (see below). Nothing on any reply's path but a failing
 * stream's. Fastify before 5.10 has
 * no controller: its outcome says aborted only; one that should have it but
 * where this does not find it is warned about on `logger`, the outcome the same.
 */
export function noteStreamErrors(fastify: FastifyInstance, logger: Logger): void {
  const key = logControllerKey(fastify);
  if (key === undefined) {
    if (hasLogController(fastify.version)) {
      logger.warn(`coda-http/fastify: Fastify ${fastify.version} has no '${DESCRIPTION}' symbol, where this adapter finds its LogController: a reply's stream that fails once its head is out will have outcome.aborted, not outcome.error (a coda-http that knows this Fastify is needed)`);
    }
    return;
  }
  const instance = fastify as unknown as Record<symbol, LogController>;
  const controller = instance[key]!;
  instance[key] = Object.create(controller, {
    streamError: {
      value(this: LogController, error: Error, request: FastifyRequest, reply: FastifyReply, metadata?: unknown): void {
        const res = reply.raw;
        adoptedExchange(res)?.failed(error);
        controller.streamError.call(this, error, request, reply, metadata);
        // Fastify destroys the response next, without the error: over HTTP/2 that resets its stream with NO_ERROR, which a
        // client reads as the body's end (a body cut short, taken whole). With the error the reset says INTERNAL_ERROR.
        if ('stream' in res && res.headersSent) res.destroy(error);
      },
    },
  }) as LogController;
}

/** Whether Fastify `version` routes its internal log lines through a LogController (5.10 and later). */
function hasLogController(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > FIRST[0]! || (major === FIRST[0] && minor >= FIRST[1]!);
}
