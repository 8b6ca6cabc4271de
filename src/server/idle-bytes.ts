import type { Server as NetServer, Socket } from 'node:net';
import { http1Connections, sweepEvery } from './connection-sweep.js';
import type { Logger } from '../log/logger.js';

/** Node's socket internals read here: the response being written, and the parser (none once closing). */
interface NodeSocket extends Socket {
  _httpMessage?: object | null;
  parser?: object | null;
}

/** node:http's list of its connections' parsers; `idle()`: those with no request begun since the last one ended. */
interface ConnectionsList {
  idle(): object[];
}

/** The description of the symbol under which node:http keeps that list (Node 18 and later), set when the server listens. */
const CONNECTIONS = 'http.server.connections';

/** A connection between requests: what had been written to it at the sweep that saw it so, and since when nothing more was. */
interface Idle {
  written: number;
  since: number;
}

/**
 * Closes a kept-alive HTTP/1.x connection on which no request has begun for
 * `limitMs`. Node's keep-alive timeout is an idle timer that every read
 * restarts, and the parser skips the empty lines a request may begin with
 * without starting one, so the headers timeout never applies: a client
 * sending `\r\n` now and then held its connection for ever. Checked by a
 * sweep (at most each second), nothing added to a request's path; a
 * connection counts as between requests while no response is assigned to it
 * and nothing was written to it since the sweep before (every request is
 * answered), and its parser has begun no request: a head arriving slowly is
 * the headers and request timeouts' to judge (with `headersTimeoutMs: 0`, it
 * was cut here, unanswered, at the keep-alive timeout and a second).
 */
export function closeIdleTricklers(server: NetServer, encrypted: boolean, limitMs: number, logger: Logger): void {
  const watched = http1Connections<Idle, NodeSocket>(server, encrypted);
  sweepEvery(server, limitMs, () => {
    const now = performance.now();
    const between = parsersBetweenRequests(server);
    for (const [socket, last] of watched) {
      const written = socket.bytesWritten;
      if (socket._httpMessage != null || socket.parser == null || between?.has(socket.parser) === false) watched.set(socket, undefined);
      else if (last === undefined || last.written !== written) watched.set(socket, { written, since: now });
      else if (now - last.since >= limitMs) {
        logger.info({ remoteAddress: socket.remoteAddress, limitMs }, `connection closed: no request began on it for ${limitMs} ms, though its client kept sending (empty lines)`);
        socket.destroy();
      }
    }
  });
}

/** The parsers node:http counts as between requests; undefined where it keeps no list (every connection then counts as between requests when nothing is owed on it). */
function parsersBetweenRequests(server: NetServer): Set<object> | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === CONNECTIONS);
  const list = key === undefined ? undefined : (server as unknown as Record<symbol, ConnectionsList | undefined>)[key];
  return list === undefined ? undefined : new Set(list.idle());
}
