// HTTPS client for sway's servers: one pooled keep-alive undici Agent per (origin, CA),
// TLS always verified against the configured CA, a bearer token on every request, and
// failures mapped to the error classes of errors.ts.
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { UnreachableError, RemoteError, ConfigError } from './errors.js';

export interface ServiceClientOptions {
  /** https://host:port */
  url: string;
  token?: string;
  /** PEM CA file; when absent the system's CAs are used (still verified). */
  caFile?: string;
  /** Human name for messages: "fileserver", "worker". */
  what: string;
  connections?: number;
  /**
   * A connection pool to share (made by another client of the same origin and CA): a
   * worker asks the fileserver with each user's token over its own warm connections,
   * instead of a TCP and TLS handshake per request. close() leaves a shared pool open.
   */
  pool?: Agent;
  /** Give up on a connection (TCP and TLS handshake) not made in this time. Default 10 s. */
  connectTimeoutMs?: number;
  /** Give up on a response whose headers have not arrived in this time. */
  headersTimeoutMs?: number;
  /** Give up when no body bytes arrive for this long. */
  bodyTimeoutMs?: number;
}

export type RequestOptions = {
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
  /** Statuses the caller handles itself instead of getting a RemoteError. */
  okStatuses?: number[];
};

export class ServiceClient {
  readonly url: string;
  readonly dispatcher: Agent;
  private readonly token?: string;
  private readonly what: string;
  private readonly ownsDispatcher: boolean;

  constructor(opts: ServiceClientOptions) {
    if (!/^https:\/\//.test(opts.url)) {
      throw new ConfigError(`${opts.what} address ${JSON.stringify(opts.url)} must start with https:// (sway never talks plain HTTP)`);
    }
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.what = opts.what;
    this.ownsDispatcher = !opts.pool;
    if (opts.pool) { this.dispatcher = opts.pool; return; }
    let ca: Buffer | undefined;
    if (opts.caFile) {
      try { ca = readFileSync(opts.caFile); } catch (err) {
        throw new ConfigError(`cannot read CA certificate ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    this.dispatcher = new Agent({
      connect: { ca, rejectUnauthorized: true, timeout: opts.connectTimeoutMs ?? 10_000 },
      connections: opts.connections ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.headersTimeoutMs ?? 60_000,
      bodyTimeout: opts.bodyTimeoutMs ?? 120_000,
    });
  }

  /** Issue a request; non-2xx statuses (unless listed in okStatuses) become RemoteError. */
  async request(path: string, opts: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.url + path, {
        method: opts.method ?? 'GET', headers, body: opts.body, signal: opts.signal, dispatcher: this.dispatcher,
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new UnreachableError(this.what, this.url, err);
    }
    if (res.statusCode >= 400 && !(opts.okStatuses ?? []).includes(res.statusCode)) {
      throw await remoteErrorFrom(this.what, res);
    }
    return res;
  }

  async json<T>(path: string, opts: RequestOptions & { json?: unknown } = {}): Promise<T> {
    const { json, ...rest } = opts;
    const res = await this.request(path, {
      ...rest,
      headers: { ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(rest.headers ?? {}) },
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
    return (await res.body.json()) as T;
  }

  async close(): Promise<void> { if (this.ownsDispatcher) await this.dispatcher.close(); }
}

/** Servers answer errors as {error: {code, message}}; turn that into one RemoteError. */
export async function remoteErrorFrom(what: string, res: Dispatcher.ResponseData): Promise<RemoteError> {
  let code = 'SWAY_REMOTE';
  let message = `${what} answered HTTP ${res.statusCode}`;
  try {
    const text = await res.body.text();
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (parsed.error?.message) message = `${what}: ${parsed.error.message}`;
    if (parsed.error?.code) code = parsed.error.code;
  } catch { /* not JSON: keep the status line */ }
  return new RemoteError(code, message, res.statusCode);
}
