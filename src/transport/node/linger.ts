import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';

/** How long a lingering connection waits for more of the client's bytes before it is closed. */
export const LINGER_IDLE_MS = 2_000;
/** The longest a connection lingers, however its client trickles: nginx's `lingering_time`. */
const LINGER_MAX_MS = 30_000;

/**
 * Has `request`'s connection, when node:http closes it after an answer that
 * said `Connection: close` while a request's body was still arriving, close
 * by lingering: FIN, then what the client still sends is read and thrown
 * away, until it closes its side, falls silent for `LINGER_IDLE_MS`, or
 * `LINGER_MAX_MS` has passed. Nothing of it is read as a request any more
 * (Node's parser gets no more bytes). A client still sending the body its
 * answer did not wait for (a 413, a 401 to an upload) then reads that answer:
 * closed at once, the bytes it sent next reached a closed socket, whose reset
 * made it lose the answer (Python's http.client, and so `requests`, raised
 * BrokenPipeError and never saw the 413). Go and nginx linger too. A
 * connection whose requests all arrived whole closes at once, as before.
 */
export function lingerOnClose(request: IncomingMessage): void {
  const socket = request.socket as LingeringSocket | null;
  // node:http closes a connection after its last answer with destroySoon() (its resOnFinish); nothing else calls it.
  if (socket !== null && !Object.hasOwn(socket, 'destroySoon')) socket.destroySoon = destroySoon;
}

interface LingeringSocket extends Socket {
  destroySoon(): void;
  parser?: { incoming?: { complete: boolean } | null } | null;
}

function destroySoon(this: LingeringSocket): void {
  if (this.parser?.incoming?.complete !== false) {
    Socket.prototype.destroySoon.call(this);
    return;
  }
  const socket = this;
  if (socket.writable) socket.end();
  // Node's parser reads through its 'data' listener, or natively until one is added (adding ours unhooks it: Node's socketOnWrap).
  socket.removeAllListeners('data');
  const idle = setTimeout(() => socket.destroy(), LINGER_IDLE_MS);
  const most = setTimeout(() => socket.destroy(), LINGER_MAX_MS);
  socket.on('data', () => idle.refresh());
  socket.once('end', () => socket.destroy());
  socket.once('close', () => {
    clearTimeout(idle);
    clearTimeout(most);
  });
  socket.resume();
  // The parser's reads left the stream's state saying a read is under way (over TLS, its handle stopped too): started as
  // node:http starts it when it resumes a connection it paused.
  const handle = (socket as { _handle?: { reading: boolean; readStart(): number } | null })._handle;
  if (handle != null && !handle.reading) {
    handle.reading = true;
    handle.readStart();
  }
}
