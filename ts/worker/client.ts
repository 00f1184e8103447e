// Client of the worker's POST /v1/runs: sends the run, decodes the NDJSON stream and
// hands stdout/stderr bytes to callbacks as they arrive. Used by `sway run` and tests.
// Aborting `signal` closes the connection, which makes the worker kill the container.
// Deliberately does not: upload scripts (the fileserver's job) or print anything.
import { ServiceClient } from '../common/http-client.js';
import { SwayError, RemoteError } from '../common/errors.js';
import type { RunRequestBody, RunOutcome } from '../common/run-protocol.js';

/** What WorkerClient.run sends (a script is fetched by the worker from the fileserver, or sent inline as content). */
export type RunBody = RunRequestBody;
export type { RunOutcome } from '../common/run-protocol.js';

export interface RunCallbacks {
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
  onRunId?(runId: string): void;
  signal?: AbortSignal;
}

export class WorkerClient {
  readonly http: ServiceClient;
  constructor(opts: { url: string; token?: string; caFile?: string }) {
    // No body timeout: a container may be silent for as long as its limit allows. A busy
    // worker (many runs starting at once) may take a while to finish a TLS handshake; a
    // worker that is down refuses at once, so the longer connect bound costs nothing then.
    this.http = new ServiceClient({ ...opts, what: 'worker', bodyTimeoutMs: 0, headersTimeoutMs: 300_000, connectTimeoutMs: 30_000 });
  }

  async run(body: RunBody, cb: RunCallbacks = {}): Promise<RunOutcome> {
    const res = await this.http.request('/v1/runs', {
      method: 'POST', signal: cb.signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
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
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
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
      res.body.destroy();
      if (err instanceof SwayError || (err as Error).name === 'AbortError') throw err;
      throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished (${(err as Error).message})`, 502);
    }
    if (!outcome) throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished`, 502);
    return outcome;
  }

  close(): Promise<void> { return this.http.close(); }
}
