// Reading a dashboard's event stream in tests: server-sent events parsed off a
// fetch body, and a wait for the first snapshot that satisfies a predicate.
import type { DashboardSnapshot as Snapshot } from 'coda-http';

export type { Snapshot };

/** One server-sent event: a snapshot, or a comment line (the heartbeat). */
export type StreamEvent = { type: 'snapshot'; snapshot: Snapshot } | { type: 'comment'; text: string };

/** Opens a dashboard's event stream; `events` reads it, `close` drops the connection. */
export async function openEvents(url: string, headers: Record<string, string> = {}): Promise<{ response: Response; events: AsyncGenerator<StreamEvent>; close: () => void }> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  return { response, events: parse(response), close: () => controller.abort() };
}

async function* parse(response: Response): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = response.body!.getReader();
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch {
      return;
    }
    if (chunk.done) return;
    buffered += decoder.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const lines = block.split('\n');
      const data = lines.find((line) => line.startsWith('data: '));
      if (data !== undefined) yield { type: 'snapshot', snapshot: JSON.parse(data.slice(6)) as Snapshot };
      else for (const line of lines) if (line.startsWith(':')) yield { type: 'comment', text: line.slice(1).trim() };
    }
  }
}

/** The first snapshot on `events` for which `ok` holds; throws if the stream ends first. */
export async function snapshotWhere(events: AsyncGenerator<StreamEvent>, ok: (snapshot: Snapshot) => boolean): Promise<Snapshot> {
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error('the event stream ended before the awaited snapshot');
    if (value.type === 'snapshot' && ok(value.snapshot)) return value.snapshot;
  }
}
