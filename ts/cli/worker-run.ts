// `sway run`'s side of the worker's POST /v1/runs, on node:https: one TLS connection,
// one request that carries the run (and a small script inside it), answered by the NDJSON
// stream of the run (protocol in ts/worker/handlers/runs.ts). Same errors as
// ts/worker/client.ts (WorkerClient, which tests and other callers use): the same
// ConfigError/UnreachableError/RemoteError/SWAY_TRUNCATED lines for a user.
// Why not WorkerClient: it is built on undici, whose import alone costs ~70 ms of every
// `sway run`, and a run is one request: no pool is needed.
// Deliberately does not: retry, keep the connection alive, or print anything.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { ConfigError, RemoteError, UnreachableError } from '../common/errors.js';
import { readRunStream, type RunRequestBody, type RunOutcome } from '../common/run-protocol.js';

export type { RunRequestBody, RunOutcome } from '../common/run-protocol.js';

export interface RunStreamOptions {
  url: string;
  token: string;
  caFile?: string;
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  signal?: AbortSignal;
}

/** The same bounds as WorkerClient: a busy worker may be slow to handshake and to start. */
const CONNECT_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 300_000;

/** Start the run and stream it to the callbacks; resolves with its outcome. */
export async function streamRun(body: RunRequestBody, opts: RunStreamOptions): Promise<RunOutcome> {
  if (!/^https:\/\//.test(opts.url)) {
    throw new ConfigError(`worker address ${JSON.stringify(opts.url)} must start with https:// (sway never talks plain HTTP)`);
  }
  const base = opts.url.replace(/\/+$/, '');
  let ca: Buffer | undefined;
  if (opts.caFile) {
    try { ca = readFileSync(opts.caFile); } catch (err) {
      throw new ConfigError(`cannot read CA certificate ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const res = await post(base, ca, opts, Buffer.from(JSON.stringify(body)));
  if ((res.statusCode ?? 500) >= 400) throw await remoteError(res);
  return readRunStream(res, opts, () => res.destroy());
}

/** The response's head, or UnreachableError (refused, TLS, timeouts), or the AbortError. */
function post(base: string, ca: Buffer | undefined, opts: RunStreamOptions, payload: Buffer): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try { url = new URL(base + '/v1/runs'); } catch (err) { reject(new UnreachableError('worker', base, err)); return; }
    const req = httpsRequest(url, {
      method: 'POST', ca, rejectUnauthorized: true, agent: false, signal: opts.signal,
      headers: { 'content-type': 'application/json', 'content-length': String(payload.length), authorization: `Bearer ${opts.token}` },
    });
    const fail = (code: string, message: string) => req.destroy(Object.assign(new Error(message), { code }));
    let timer = setTimeout(() => fail('UND_ERR_CONNECT_TIMEOUT', 'connect timeout'), CONNECT_TIMEOUT_MS);
    req.once('socket', (socket) => socket.once('secureConnect', () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail('UND_ERR_HEADERS_TIMEOUT', 'headers timeout'), HEADERS_TIMEOUT_MS);
    }));
    req.once('response', (res) => { clearTimeout(timer); resolve(res); });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err.name === 'AbortError' ? err : new UnreachableError('worker', base, err));
    });
    req.end(payload);
  });
}

/** Servers answer errors as {error: {code, message}} (as remoteErrorFrom in http-client.ts). */
async function remoteError(res: IncomingMessage): Promise<RemoteError> {
  let code = 'SWAY_REMOTE';
  let message = `worker answered HTTP ${res.statusCode}`;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string; message?: string } };
    if (parsed.error?.message) message = `worker: ${parsed.error.message}`;
    if (parsed.error?.code) code = parsed.error.code;
  } catch { /* not JSON, or cut short: keep the status line */ }
  return new RemoteError(code, message, res.statusCode ?? 500);
}

