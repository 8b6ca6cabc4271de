import type { Server as NetServer, Socket } from 'node:net';
import { http1Connections, sweepEvery } from './connection-sweep.js';
import type { Logger } from '../log/logger.js';

/** Node's socket internals read here: the response being written, and the parser (none once closing). */
interface NodeSocket extends Socket {
  _httpMessage?: object | null;
  parser?: object | null;
}

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
 * answered).
 */
export function closeIdleTricklers(server: NetServer, encrypted: boolean, limitMs: number, logger: Logger): void {
  const watched = http1Connections<Idle, NodeSocket>(server, encrypted);
  sweepEvery(server, limitMs, () => {
    const now = performance.now();
    for (const [socket, last] of watched) {
      const written = socket.bytesWritten;
      if (socket._httpMessage != null || socket.parser == null) watched.set(socket, undefined);
      else if (last === undefined || last.written !== written) watched.set(socket, { written, since: now });
      else if (now - last.since >= limitMs) {
        logger.info({ remoteAddress: socket.remoteAddress, limitMs }, `connection closed: no request began on it for ${limitMs} ms, though its client kept sending (empty lines)`);
        socket.destroy();
      }
    }
  });
}
