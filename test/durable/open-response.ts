// A response still being sent: its first line goes out at once, its end waits
// for the test. What a task held by it looks like while its response is not done.
import { StreamingResponse } from 'coda-http';

export function openResponse(until: Promise<void>): StreamingResponse {
  return new StreamingResponse((async function* () {
    yield 'started\n';
    await until;
    yield 'done\n';
  })());
}
