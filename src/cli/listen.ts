import type { App } from '../app/app.js';
import { serve, type Server } from '../server/serve.js';

/** The server could not listen for a reason that is the user's to fix: one line says what to do. */
export class ListenError extends Error {
  override get name(): string {
    return 'ListenError';
  }
}

/** What to do about each listen failure a command line can fix; others are shown as they are. */
const FIXES: Record<string, string> = {
  EADDRINUSE: 'the port is in use (another server, or a coda serve still running); give another with --port, or --port 0 for a free one',
  EACCES: 'no permission (ports below 1024 need privileges); give another with --port',
  EADDRNOTAVAIL: 'the address is not one of this machine\'s; give --host 127.0.0.1, or 0.0.0.0 for every interface',
};

/** `serve()` for `coda serve`, the process's signals handled; a port in use (or refused) is a ListenError naming it. */
export async function listen(app: App, { port, host, shutdownTimeoutMs }: { port: number; host: string; shutdownTimeoutMs: number }): Promise<Server> {
  try {
    return await serve(app, { port, host, shutdownTimeoutMs, handleSignals: true });
  } catch (error) {
    const fix = FIXES[(error as NodeJS.ErrnoException).code ?? ''];
    if (fix === undefined) throw error;
    throw new ListenError(`cannot listen on ${host}:${port}: ${fix}`, { cause: error });
  }
}
