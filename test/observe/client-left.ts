// Two requests whose client leaves, for what observability records of them:
// one before the response's head went out (nothing was sent: the status the
// view chose was never the client's), one after it (the status was sent).
import { once } from 'node:events';
import { get, HttpResponse, StreamingResponse, type App, type Route, type Server } from 'coda-http';
import { connect, deferred, rawGet } from '../helpers.js';

/** `GET /left` answers 200 once its client has gone; `GET /streamed` sends its head and a first chunk, then waits for its client to go. */
export function clientLeftRoutes(): { routes: Route[]; leave(server: Server, app: App): Promise<void> } {
  const viewing = deferred();
  const routes = [
    get('/left', async (request) => {
      viewing.resolve();
      await once(request.signal, 'abort');
      return new HttpResponse('too late');
    }),
    get('/streamed', () => new StreamingResponse(async function* (signal) {
      yield 'first';
      await once(signal, 'abort');
    })),
  ];
  const leave = async (server: Server, app: App): Promise<void> => {
    const before = await connect(server);
    before.write(rawGet('/left'));
    await viewing.promise;
    before.destroy();
    const afterHead = await connect(server);
    afterHead.write(rawGet('/streamed'));
    await once(afterHead, 'data');
    afterHead.destroy();
    await app.settle();
  };
  return { routes, leave };
}
