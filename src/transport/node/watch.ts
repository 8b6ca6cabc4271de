import type { Exchange } from '../../after/exchange.js';
import { outcomeOf } from '../outcome.js';
import { isClosed, isComplete, type NodeResponse } from './response.js';

const kWatched = Symbol('coda.watched');
type WatchedResponse = NodeResponse & { [kWatched]: Exchange };

/**
 * Watches a Node response for its `'close'`, which comes after `'finish'`
 * when the response completed, or alone when the connection went first; then
 * the exchange is finished with its outcome. One shared listener; the exchange
 * rides on the response. Over HTTP/2 the response is a stream's: `'finish'`
 * once its last DATA frame (END_STREAM) is handed to the session, `'close'`
 * alone when the client reset the stream (RST_STREAM) or the session died.
 */
export function watch(res: NodeResponse, exchange: Exchange, http2: boolean): void {
  (res as WatchedResponse)[kWatched] = exchange;
  // The client may have gone while the view was still working: 'close' has fired already.
  if (isClosed(res, http2)) closed(res, http2);
  else res.on('close', http2 ? onHttp2Close : onClose);
}

function onClose(this: NodeResponse): void {
  closed(this, false);
}

function onHttp2Close(this: NodeResponse): void {
  closed(this, true);
}

function closed(res: NodeResponse, http2: boolean): void {
  const exchange = (res as WatchedResponse)[kWatched];
  exchange.finish(outcomeOf(exchange, isComplete(res, http2)));
}
