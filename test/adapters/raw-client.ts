import net from 'node:net';

/** Sends `data` as it is on a new connection to 127.0.0.1:`port` and resolves with all the server wrote once the connection closed. */
export function exchange(port: number, data: string): Promise<string> {
  const client = net.connect(port, '127.0.0.1');
  let received = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => { received += chunk; });
  client.on('error', () => {});
  client.write(data);
  return new Promise((resolve) => client.on('close', () => resolve(received)));
}
