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
import { ConfigError, RemoteError, SwayError, UnreachableError } from '../common/errors.js';
import type { RunRequestBody, RunOutcome } from '../common/run-protocol.js';

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
  return readRunStream(res, opts);
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

/** Decode the NDJSON lines of a run until its exit line (or its error line). */
async function readRunStream(res: IncomingMessage, opts: RunStreamOptions): Promise<RunOutcome> {
  const decoder = new TextDecoder(); // a chunk may end inside a multi-byte character
  let pending = '';
  let runId = '';
  let outcome: RunOutcome | undefined;
  const handle = (text: string) => {
    if (!text.trim()) return;
    const msg = JSON.parse(text) as { runId?: string; stream?: string; data?: string; exit?: number; timedOut?: boolean; durationMs?: number; keptUpper?: string; error?: { code: string; message: string } };
    if (msg.error) throw new RemoteError(msg.error.code, `worker: ${msg.error.message}`, 500);
    if (msg.stream === 'stdout') opts.onStdout(Buffer.from(msg.data ?? '', 'base64'));
    else if (msg.stream === 'stderr') opts.onStderr(Buffer.from(msg.data ?? '', 'base64'));
    else if (typeof msg.exit === 'number') outcome = { runId: msg.runId ?? runId, exit: msg.exit, timedOut: !!msg.timedOut, durationMs: msg.durationMs, keptUpper: msg.keptUpper };
    else if (msg.runId) runId = msg.runId;
  };
  try {
    for await (const chunk of res) {
      pending += decoder.decode(chunk as Buffer, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        handle(text);
      }
    }
    handle(pending);
  } catch (err) {
    res.destroy();
    if (err instanceof SwayError || (err as Error).name === 'AbortError') throw err;
    throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished (${(err as Error).message})`, 502);
  }
  if (!outcome) throw new SwayError('SWAY_TRUNCATED', `the worker closed the connection before run ${runId || '(unknown)'} finished`, 502);
  return outcome;
}
