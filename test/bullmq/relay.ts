// A TCP relay between a store and Redis that can cut a connection, or hold a
// write back, at a chosen command: for the moments between two steps of one
// store call that timing alone cannot pick.
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface Relay {
  port: number;
  /**
   * Drops the next write holding `marker` (or, `replyLost`, passes it on and drops Redis's reply), with its
   * connection, and refuses new connections until told to stop, as a Redis gone away (else ioredis sends the
   * command again on a new connection: `resent` lets it, as a network blip would). Other connections live on.
   */
  cutOn(marker: string, options?: { replyLost?: boolean; resent?: boolean }): { stop: () => void };
  /** Passes the next write holding `marker` on only once `first(write)` is done: what `first` sends reaches Redis before it. */
  holdOn(marker: string, first: (write: Buffer) => Promise<void>): void;
  /** On every connection made from now on, its `nth` write holding `marker` is held `ms` (its later writes behind it). */
  delayEach(marker: string, nth: number, ms: number): void;
  close(): Promise<void>;
}

export async function relay(port: number): Promise<Relay> {
  let marker: string | undefined;
  let replyLost = false;
  let resent = false;
  let hold: { marker: string; first: (write: Buffer) => Promise<void> } | undefined;
  let delayed: { marker: string; nth: number; ms: number } | undefined;
  const sockets = new Set<Socket>();
  const relayServer: Server = createServer((client) => {
    const upstream = new Socket().connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    let cutting = false;
    const late = delayed === undefined ? undefined : { ...delayed, seen: 0 };
    const cut = (): void => {
      // Not listening: a reconnection is refused (one that connects resets ioredis's count of retries).
      if (!resent) relayServer.close();
      client.destroy();
      upstream.destroy();
    };
    upstream.on('data', (chunk: Buffer) => {
      if (cutting) cut();
      else client.write(chunk);
    });
    // Whatever this connection writes while one write is held waits too, to keep its order.
    const holdBack = (chunk: Buffer, until: Promise<void>): void => {
      client.pause();
      void until.then(() => {
        upstream.write(chunk);
        client.resume();
      });
    };
    client.on('data', (chunk: Buffer) => {
      if (hold !== undefined && chunk.includes(hold.marker)) {
        const { first } = hold;
        hold = undefined;
        return holdBack(chunk, first(chunk));
      }
      if (late !== undefined && chunk.includes(late.marker) && ++late.seen === late.nth) return holdBack(chunk, delay(late.ms));
      if (marker !== undefined && chunk.includes(marker)) {
        marker = undefined;
        if (!replyLost) return cut();
        cutting = true;
      }
      upstream.write(chunk);
    });
  });
  relayServer.listen(0, '127.0.0.1');
  await once(relayServer, 'listening');
  const listening = (relayServer.address() as { port: number }).port;
  return {
    port: listening,
    cutOn: (cut, options = {}) => {
      marker = cut;
      replyLost = options.replyLost ?? false;
      resent = options.resent ?? false;
      return { stop: () => void relayServer.listen(listening, '127.0.0.1') };
    },
    holdOn: (held, first) => {
      hold = { marker: held, first };
    },
    delayEach: (held, nth, ms) => {
      delayed = { marker: held, nth, ms };
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (relayServer.listening) await new Promise((closed) => relayServer.close(closed));
    },
  };
}
