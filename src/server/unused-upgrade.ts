import type { IncomingMessage, ServerResponse } from 'node:http';

/** `upgrade` among a Connection header's options (RFC 9110 7.6.1), as llhttp finds it; Node joins repeated lines with ", ". */
const UPGRADE_OPTION = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;

/**
 * A request that asks to switch protocols (an Upgrade header, and `upgrade`
 * in Connection, RFC 9110 7.8: a WebSocket handshake, curl's `--http2` on
 * http://) reaches the app as any other when no 'upgrade' listener takes it,
 * and is answered without the switch. But llhttp stops reading at its end,
 * as for a switch, and Node throws away the rest of that read: a request
 * pipelined behind it went unanswered, the client waiting out the
 * keep-alive timeout, and the next read was parsed from wherever it began.
 * Its answer closes the connection (`Connection: close`), which tells the
 * client that nothing after it was read.
 */
export function closeAfterUnusedUpgrade(request: IncomingMessage, response: ServerResponse): void {
  const { upgrade, connection } = request.headers;
  if (upgrade !== undefined && connection !== undefined && UPGRADE_OPTION.test(connection)) response.shouldKeepAlive = false;
}
