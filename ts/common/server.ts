// Koa plumbing shared by the fileserver and the worker: the app with its error mapping
// and request log, JSON bodies with a size limit, bearer tokens, a tiny method+path
// router (so each handler lives in its own small file), and an HTTPS-only listener.
//
// Errors: a SwayError escaping a handler becomes {"error":{"code","message"}} with its
// status; anything else is logged and answered 500 with a generic message, so internals
// never reach a client. The request log never includes headers, so tokens never appear.
// Deliberately does not: authenticate (each server decides what a token means).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import Koa from 'koa';
import type { Context, Next, Middleware } from 'koa';
import { SwayError, BadRequestError, LimitError, NotFoundError } from './errors.js';
import type { TlsMaterial } from './tls.js';

export type Log = (line: string) => void;

export interface CreateAppOptions {
  /** Prefix of log lines: "fileserver", "worker". */
  name: string;
  /** Where log lines go; default stderr. Pass `() => {}` to silence. */
  log?: Log;
}

export function defaultLog(name: string): Log {
  return (line) => process.stderr.write(`${new Date().toISOString()} ${name} ${line}\n`);
}

export function createApp(opts: CreateAppOptions): Koa {
  const app = new Koa();
  const log = opts.log ?? defaultLog(opts.name);
  app.silent = true; // we log ourselves, once, without stacks on the client side
  app.use(requestLogger(log));
  app.use(errorMapper(log));
  return app;
}

function requestLogger(log: Log): Middleware {
  return async (ctx: Context, next: Next) => {
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const who = (ctx.state as { user?: { name: string } }).user?.name ?? '-';
      // Path only, never the query string or headers: those may carry secrets. A Range
      // carries none, and says which part of a blob a worker asked for.
      const range = ctx.get('range');
      log(`${ctx.method} ${ctx.path} ${ctx.status} ${ms.toFixed(1)}ms user=${who}${range ? ` range=${range.slice(0, 100)}` : ''}`);
    }
  };
}

function errorMapper(log: Log): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFoundError(`no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      sendError(ctx, err, log);
    }
  };
}

/** Answer an error as JSON; usable from handlers that catch errors themselves. */
export function sendError(ctx: Context, err: unknown, log: Log): void {
  let status = 500, code = 'SWAY_INTERNAL', message = 'internal server error';
  if (err instanceof SwayError) {
    status = err.status; code = err.code; message = err.message;
  } else {
    log(`internal error on ${ctx.method} ${ctx.path}: ${(err as Error)?.stack ?? String(err)}`);
  }
  if (ctx.headerSent || !ctx.writable) {
    // Mid-stream failure: the only honest signal left is to cut the connection.
    ctx.req.socket.destroy();
    return;
  }
  ctx.status = status;
  // A body we refused to read (413 on Content-Length): close rather than drain it.
  if (!ctx.req.complete) ctx.set('connection', 'close');
  ctx.remove('content-length');
  ctx.set('cache-control', 'no-store');
  ctx.body = { error: { code, message } };
}

/** Read and parse a JSON body: 413 above maxBytes, 400 when it is not JSON. */
export async function readJsonBody<T>(ctx: Context, maxBytes: number): Promise<T> {
  const buf = await readBody(ctx, maxBytes);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch {
    throw new BadRequestError('request body is not valid JSON');
  }
}

/** Read a whole (small) body into memory with a limit. */
export async function readBody(ctx: Context, maxBytes: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > maxBytes) {
    throw new LimitError(`request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new LimitError(`request body exceeds the limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(ctx: Context): string | undefined {
  const h = ctx.get('authorization');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

// ---------------------------------------------------------------------------------
// Router: patterns are '/v1/blobs/:hash' (one segment) or '/v1/images/*ref' (the rest,
// slashes included). Parameters are URL-decoded. HEAD falls back to the GET route
// (koa drops the body). A known path with the wrong method answers 405.
// ---------------------------------------------------------------------------------

export type Handler = (ctx: Context, params: Record<string, string>) => Promise<void> | void;

interface Route { method: string; parts: string[]; handler: Handler }

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method: method.toUpperCase(), parts: pattern.split('/').slice(1), handler });
    return this;
  }
  get(p: string, h: Handler): this { return this.add('GET', p, h); }
  put(p: string, h: Handler): this { return this.add('PUT', p, h); }
  post(p: string, h: Handler): this { return this.add('POST', p, h); }
  delete(p: string, h: Handler): this { return this.add('DELETE', p, h); }

  middleware(): Middleware {
    return async (ctx: Context, next: Next) => {
      const segments = ctx.path.split('/').slice(1);
      let pathMatched = false;
      for (const method of ctx.method === 'HEAD' ? ['HEAD', 'GET'] : [ctx.method]) {
        for (const route of this.routes) {
          const params = matchParts(route.parts, segments);
          if (!params) continue;
          pathMatched = true;
          if (route.method !== method) continue;
          await route.handler(ctx, params);
          return;
        }
      }
      if (pathMatched) throw new SwayError('SWAY_METHOD', `method ${ctx.method} not allowed on ${ctx.path}`, 405);
      await next();
    };
  }
}

function matchParts(parts: string[], segments: string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.startsWith('*')) {
      const rest = segments.slice(i);
      if (rest.length === 0 || rest.join('') === '') return null;
      params[p.slice(1)] = safeDecode(rest.join('/'));
      return params;
    }
    const s = segments[i];
    if (s === undefined) return null;
    if (p.startsWith(':')) {
      if (s === '') return null;
      params[p.slice(1)] = safeDecode(s);
    } else if (p !== s) {
      return null;
    }
  }
  return segments.length === parts.length ? params : null;
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { throw new BadRequestError('malformed percent-encoding in path'); }
}

// ---------------------------------------------------------------------------------
// HTTPS listener. There is no plain-HTTP port at all: a plain request to it fails the
// TLS handshake.
// ---------------------------------------------------------------------------------

export interface Listening {
  server: Server;
  port: number;
  /** Stop accepting, cut idle and active connections, resolve when closed. */
  close(): Promise<void>;
}

/**
 * How long a peer may take. Node's requestTimeout runs only until the request has been
 * received in full: a response (a run's output) may stream on for hours after it.
 */
export interface ServerTimeouts {
  /** The whole header block, from the connection's start (slowloris). */
  headersMs: number;
  /** The whole request, headers and body; 0: none (the fileserver takes long uploads). */
  requestMs: number;
  /** A peer that neither sends nor reads for this long is cut; 0: never. A handler whose
   *  work makes the peer wait (a run) turns it off for its connection. */
  idleMs: number;
  /** An idle kept-alive connection between requests. */
  keepAliveMs: number;
}

/** The fileserver: uploads of any length, but a stalled one is cut. */
export const FILESERVER_TIMEOUTS: ServerTimeouts = { headersMs: 60_000, requestMs: 0, idleMs: 120_000, keepAliveMs: 65_000 };
/** The worker: requests are small (a run request, at most an inline script of 1 MiB). */
export const WORKER_TIMEOUTS: ServerTimeouts = { headersMs: 30_000, requestMs: 120_000, idleMs: 60_000, keepAliveMs: 65_000 };

export async function listenHttps(app: Koa, opts: { host: string; port: number; tls: TlsMaterial; timeouts: ServerTimeouts }): Promise<Listening> {
  const t = opts.timeouts;
  // Node checks header and request deadlines on this period (default 30 s): a tenth of
  // the shortest, so a deadline is kept to within 10%.
  const checkEvery = Math.min(30_000, Math.max(50, Math.floor(Math.min(...[t.headersMs, t.requestMs].filter((ms) => ms > 0)) / 10)));
  const server = createServer({
    cert: readFileSync(opts.tls.certPath),
    key: readFileSync(opts.tls.keyPath),
    minVersion: 'TLSv1.2',
    connectionsCheckingInterval: checkEvery,
  }, app.callback());
  server.headersTimeout = t.headersMs;
  server.requestTimeout = t.requestMs;
  server.timeout = t.idleMs;
  server.keepAliveTimeout = t.keepAliveMs;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('tlsClientError', () => { /* plain HTTP or a wrong CA on the client: nothing to do */ });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

/** https://host:port for clients, mapping wildcard binds to loopback. */
export function urlFor(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `https://${h}:${port}`;
}
