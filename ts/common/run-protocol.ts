// The body of the worker's POST /v1/runs and the outcome its NDJSON stream ends with, as
// both clients send and read them: ts/worker/client.ts (WorkerClient, on undici) and
// ts/cli/worker-run.ts (`sway run`, on node:https), and the one decoder of that stream both
// use. Depends on errors.ts only, so `sway run`'s bundle stays small. The worker's own
// validation is ts/worker/run-request.ts.
import { RemoteError, SwayError } from './errors.js';

export interface RunRequestBody {
  image: string;
  /** content: the script's bytes, base64, for the worker to use instead of fetching them. */
  script?: { hash: string; name: string; content?: string };
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  limits?: { memoryMb?: number; pids?: number; cpus?: number; timeoutSec?: number };
  network?: boolean;
  keep?: boolean;
}

export interface RunOutcome { runId: string; exit: number; timedOut: boolean; durationMs?: number; keptUpper?: string }

export interface RunStreamCallbacks {
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
  onRunId?(runId: string): void;
}

/**
 * Decode a run's NDJSON lines (runId, stdout/stderr base64 chunks, then exit or error)
 * until the stream ends; resolves with the exit line. An error line is a RemoteError; a
 * stream cut before its exit line is SWAY_TRUNCATED (after `destroy` of the body).
 */
export async function readRunStream(body: AsyncIterable<Uint8Array>, cb: RunStreamCallbacks, destroy: () => void): Promise<RunOutcome> {
  const decoder = new TextDecoder(); // a chunk may end inside a multi-byte character
  let pending = '';
  let runId = '';
  let outcome: RunOutcome | undefined;
  const handle = (text: string) => {
    if (!text.trim()) return;
    const msg = JSON.parse(text) as { runId?: string; stream?: string; data?: string; exit?: number; timedOut?: boolean; durationMs?: number; keptUpper?: string; error?: { code: string; message: string } };
    if (msg.error) throw new RemoteError(msg.error.code, `worker: ${msg.error.message}`, 500);
    if (msg.stream === 'stdout') cb.onStdout?.(Buffer.from(msg.data ?? '', 'base64'));
    else if (msg.stream === 'stderr') cb.onStderr?.(Buffer.from(msg.data ?? '', 'base64'));
    else if (typeof msg.exit === 'number') outcome = { runId: msg.runId ?? runId, exit: msg.exit, timedOut: !!msg.timedOut, durationMs: msg.durationMs, keptUpper: msg.keptUpper };
    else if (msg.runId) { runId = msg.runId; cb.onRunId?.(runId); }
  };
  try {
    for await (const chunk of body) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        handle(text);
      }
    }
    handle(pending);
  } catch (err) {
    destroy();
    if (err instanceof SwayError || (err as Error).name === 'AbortError') throw err;
    throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished (${(err as Error).message})`, 502);
  }
  if (!outcome) throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished`, 502);
  return outcome;
}
