import type { ServerResponse } from 'node:http';
import type { Exchange } from '../../after/exchange.js';
import { outcomeOf } from '../outcome.js';

const kWatched = Symbol('coda.watched');
type WatchedResponse = ServerResponse & { [kWatched]: Exchange };

/**
 * Watches a Node response for its `'close'`, which comes after `'finish'`
 * when the response completed, or alone when the connection went first; then
 * the exchange is finished with its outcome. One shared listener; the exchange
 * rides on the response.
 */
export function watch(res: ServerResponse, exchange: Exchange): void {
  (res as WatchedResponse)[kWatched] = exchange;
  // The client may have gone while the view was still working: 'close' has fired already.
  if (res.closed) closed(res);
  else res.on('close', onClose);
}

function onClose(this: ServerResponse): void {
  closed(this);
}

function closed(res: ServerResponse): void {
  const exchange = (res as WatchedResponse)[kWatched];
  exchange.finish(outcomeOf(exchange, res.writableFinished));
}
