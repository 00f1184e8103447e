// Client of the worker's POST /v1/runs: sends the run, decodes the NDJSON stream and
// hands stdout/stderr bytes to callbacks as they arrive. Used by `sway run` and tests.
// Aborting `signal` closes the connection, which makes the worker kill the container.
// Deliberately does not: upload scripts (the fileserver's job) or print anything.
import { ServiceClient } from '../common/http-client.js';
import { readRunStream, type RunRequestBody, type RunOutcome, type RunStreamCallbacks } from '../common/run-protocol.js';

/** What WorkerClient.run sends (a script is fetched by the worker from the fileserver, or sent inline as content). */
export type RunBody = RunRequestBody;
export type { RunOutcome } from '../common/run-protocol.js';

export interface RunCallbacks extends RunStreamCallbacks {
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
    return readRunStream(res.body, cb, () => res.body.destroy());
  }

  close(): Promise<void> { return this.http.close(); }
}
