// Raw HTTP/2 for the tests that send what no client library would: frames
// built by hand (RFC 9113 4.1) over a TLS connection that offers only h2, and
// the frames the server sends back, read off the wire.
import { once } from 'node:events';
import tls from 'node:tls';

/** One HTTP/2 frame: length, type, flags, stream id, payload. */
export function frame(type: number, flags: number, id: number, payload: Buffer | number[] = []): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(9);
  head.writeUIntBE(body.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, body]);
}

/** A frame the server sent. */
export interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/**
 * Opens a raw HTTP/2 connection to 127.0.0.1:`port`, sends the preface, an
 * empty SETTINGS and `frames` (then a FIN), and resolves with the frames the
 * server sent once it has closed the connection.
 */
export async function rawSession(port: number, ca: string, frames: Buffer[]): Promise<Frame[]> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  const received: Buffer[] = [];
  socket.on('data', (data: Buffer) => received.push(data));
  await once(socket, 'secureConnect');
  socket.end(Buffer.concat([PREFACE, frame(4, 0, 0), ...frames]));
  await once(socket, 'close');
  return parseFrames(Buffer.concat(received));
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * As `rawSession`, but the connection stays open until the frames the server
 * sent satisfy `done` (or it closes), then is destroyed: for the tests that
 * read the answer to a stream and then the next one's on the same session.
 */
export async function rawExchange(port: number, ca: string, frames: Buffer[], done: (received: Frame[]) => boolean): Promise<Frame[]> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  const received: Buffer[] = [];
  socket.on('data', (data: Buffer) => {
    received.push(data);
    if (done(parseFrames(Buffer.concat(received)))) socket.destroy();
  });
  await once(socket, 'secureConnect');
  socket.write(Buffer.concat([PREFACE, frame(4, 0, 0), ...frames]));
  await new Promise((resolve) => socket.once('close', resolve));
  return parseFrames(Buffer.concat(received));
}

/** The whole frames in `wire` (a frame still arriving is left out). */
function parseFrames(wire: Buffer): Frame[] {
  const found: Frame[] = [];
  for (let at = 0; at + 9 <= wire.length;) {
    const length = wire.readUIntBE(at, 3);
    if (at + 9 + length > wire.length) break;
    found.push({ type: wire[at + 3]!, flags: wire[at + 4]!, id: wire.readUInt32BE(at + 5) & 0x7fffffff, payload: wire.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return found;
}

/**
 * Sends the preface, an empty SETTINGS and `frames` over a raw HTTP/2
 * connection that never reads what the server sends (a client that takes
 * none of its PING or SETTINGS acknowledgements), a thousand frames a turn
 * of the event loop; resolves with how many were written when the server
 * closed the connection (`frames.length` when it never did, once it closes
 * after them).
 */
export async function floodUnread(port: number, ca: string, frames: Buffer[]): Promise<number> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'secureConnect');
  socket.pause();
  socket.write(Buffer.concat([PREFACE, frame(4, 0, 0)]));
  let written = 0;
  for (; written < frames.length && !socket.destroyed; written += 1_000) {
    socket.write(Buffer.concat(frames.slice(written, written + 1_000)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Read at last, to hear the close of a server that ended the connection after the last write.
  socket.resume();
  await closed;
  return Math.min(written, frames.length);
}
