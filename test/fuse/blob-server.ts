// A local blob server for the FUSE tests: GET /blobs/<hash> from a store directory on
// 127.0.0.1 (port 0), with switchable faults: refuse (not listening), hang (accept and
// never answer), truncate (half the body, then close), wrong (right length, wrong bytes),
// gate (hold every answer until released). Counts requests per hash.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { fanoutPath } from '../../ts/common/hash.js';

export type FaultMode = 'ok' | 'hang' | 'truncate' | 'wrong' | 'gate';

export class BlobServer {
  mode: FaultMode = 'ok';
  readonly requests = new Map<string, number>();
  private server: Server;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private gateWaiters: (() => void)[] = [];
  private firstRequest?: () => void;

  constructor(readonly store: string) {
    this.server = this.makeServer();
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stop listening (connections refused) and drop open connections. */
  async refuse(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
    this.server = this.makeServer();
  }

  /** Listen again on the same port after refuse(). */
  async recover(): Promise<void> {
    this.mode = 'ok';
    this.releaseGate();
    this.dropConnections();
    if (!this.server.listening) await this.start();
  }

  count(hash: string): number { return this.requests.get(hash) ?? 0; }
  total(): number { let n = 0; for (const v of this.requests.values()) n += v; return n; }

  /** Resolves at the next request that arrives. */
  nextRequest(): Promise<void> { return new Promise((resolve) => { this.firstRequest = resolve; }); }

  releaseGate(): void {
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const w of waiters) w();
  }

  async close(): Promise<void> {
    this.releaseGate();
    this.dropConnections();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private dropConnections(): void {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private makeServer(): Server {
    const server = createServer((req, res) => { void this.handle(req.url ?? '', res); });
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    return server;
  }

  private async handle(url: string, res: ServerResponse): Promise<void> {
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(url);
    if (!m) { res.writeHead(404).end(); return; }
    const hash = m[1]!;
    this.requests.set(hash, this.count(hash) + 1);
    const notify = this.firstRequest;
    this.firstRequest = undefined;
    notify?.();
    const mode = this.mode;
    if (mode === 'hang') { this.hung.add(res); return; }
    if (mode === 'gate') await new Promise<void>((resolve) => this.gateWaiters.push(resolve));
    const path = join(this.store, fanoutPath(hash));
    const st = await stat(path).catch(() => undefined);
    if (!st) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': String(st.size), 'content-type': 'application/octet-stream' });
    if (mode === 'truncate') {
      createReadStream(path, { end: Math.max(0, Math.floor(st.size / 2) - 1) })
        .on('end', () => res.destroy())
        .on('data', (c) => res.write(c));
      return;
    }
    if (mode === 'wrong') {
      res.end(Buffer.alloc(st.size, 0x5a));
      return;
    }
    createReadStream(path).pipe(res);
  }
}
