// The reliability tests' world, all real: a `sway fileserver` process (HTTPS, its own CA,
// SQLite) with users alice and a worker, a fault proxy in front of it (this process; plain
// TCP, so TLS stays end to end between worker and fileserver), a `sway worker` process
// (FUSE mount, runc) that talks to the fileserver only through the proxy, and a busybox
// image with data files published as alice/rel:latest.
//
//   const c = await startCluster(t, { dataFiles: 100 });
//   const w = await c.startWorker();            // `sway worker`, on the same port each time
//   const r = await c.run(['sh', '-c', 'cat /data/f000']);
//   c.proxy.mode = 'refuse';                      // or 'blackhole', 'pass'
//   w.kill9(); await w.exited;
//
// The fileserver's stderr is its request log: `requestsFor(hash)` counts GETs of a blob.
// Deliberately does not: assert anything (the tests do) or use namespaces (loopback
// is enough: the proxy decides what the worker sees of the fileserver).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { removeTempDir, testOutputDir } from '../helpers/tmp.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { writeFileSync } from 'node:fs';
import { runSway, startSway, type RunningSway } from '../helpers/cli.js';
import { writeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { publishTree } from '../worker/publish.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { WorkerClient, type RunOutcome } from '../../ts/worker/client.js';
import { sha256 } from '../../ts/common/hash.js';
import { Runtime } from '../../ts/worker/runc.js';
import { recoverLeftovers } from '../../ts/worker/recovery.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';

export const IMAGE = 'alice/rel:latest';
const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'seq', 'sha256sum', 'wc', 'head', 'ls', 'find', 'xargs', 'true', 'false', 'test', 'printf', 'tr', 'cut', 'grep', 'dd', 'date'];

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

/**
 * A TCP proxy whose mode can change at any moment:
 * - pass: connections are forwarded to the fileserver;
 * - refuse: the listening socket is closed (connections are refused: ECONNREFUSED) and
 *   every open connection is destroyed;
 * - blackhole: connections are accepted and never answered; open ones stop forwarding.
 */
export class FaultProxy {
  private server?: Server;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket }>();
  private current: ProxyMode = 'pass';
  private divertedTo?: number;
  private closed = false;
  connections = 0;

  private constructor(readonly targetPort: () => number, public port: number) {}

  static async start(targetPort: () => number): Promise<FaultProxy> {
    const p = new FaultProxy(targetPort, 0);
    await p.listen();
    return p;
  }

  get url(): string { return `https://127.0.0.1:${this.port}`; }
  get mode(): ProxyMode { return this.current; }
  set mode(mode: ProxyMode) { void this.setMode(mode); }

  async setMode(mode: ProxyMode): Promise<void> {
    if (this.closed) return; // a timer of a failed test must not reopen it
    const was = this.current;
    this.current = mode;
    if (mode === 'refuse' || (mode === 'pass' && was === 'blackhole')) {
      for (const pair of this.pairs) { pair.client.destroy(); pair.upstream?.destroy(); }
      this.pairs.clear();
    }
    if (mode === 'refuse' && this.server) {
      const s = this.server;
      this.server = undefined;
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    if (mode !== 'refuse' && !this.server) await this.listen();
  }

  /** New connections go to this port instead of the fileserver's (undefined: back); open ones are cut. */
  divert(port: number | undefined): void {
    this.divertedTo = port;
    for (const pair of this.pairs) { pair.client.destroy(); pair.upstream?.destroy(); }
    this.pairs.clear();
  }

  private listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.connections++;
    const pair: { client: Socket; upstream?: Socket } = { client };
    this.pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => { pair.upstream?.destroy(); this.pairs.delete(pair); });
    if (this.current !== 'pass') return; // blackhole: hold it, say nothing
    const upstream = connect(this.divertedTo ?? this.targetPort(), '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    // Forward only while passing: in blackhole mode bytes of open connections are dropped.
    client.on('data', (b) => { if (this.current === 'pass') upstream.write(b); });
    upstream.on('data', (b) => { if (this.current === 'pass') client.write(b); });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pair of this.pairs) { pair.client.destroy(); pair.upstream?.destroy(); }
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface WorkerProcess {
  url: string;
  pid: number;
  /** Everything the worker logged so far (stderr). */
  log(): string;
  /** Resolves when the worker process has exited (its children may live on). */
  exited: Promise<void>;
  kill9(): void;
  /** SIGTERM and wait (a clean stop: runs cancelled, unmounted). */
  stop(): Promise<void>;
}

export interface DataFile { rel: string; hash: string; size: number }

export interface Cluster {
  dir: string;
  fsData: string;
  workerData: string;
  ca: string;
  aliceToken: string;
  workerToken: string;
  proxy: FaultProxy;
  image: { id: string; name: string };
  /** The data files of the image (/data/fNNN), and /data/big. */
  files: DataFile[];
  big: DataFile;
  fileserverPort(): number;
  startFileserver(): Promise<void>;
  /** kill -9 the fileserver and wait for it to be gone. */
  killFileserver(): Promise<void>;
  /** The fileserver's request log since it (last) started, plus earlier ones. */
  fileserverLog(): string;
  /** GET /v1/blobs/<hash> requests the fileserver logged, all of its lives together. */
  requestsFor(hash: string): number;
  startWorker(): Promise<WorkerProcess>;
  /** A client of the current worker, as alice (or with the given token). */
  client(token?: string): WorkerClient;
  /** A command run on the image as alice; output collected, with arrival times per stdout chunk. */
  run(command: string[], opts?: { onStdout?: (text: string) => void; signal?: AbortSignal }): Promise<RunOutcome & { stdout: string; stderr: string }>;
  /** Path of a blob on the fileserver's disk. */
  storedBlobPath(hash: string): string;
}

export async function startCluster(t: TestContext, opts: { dataFiles?: number; bigBytes?: number; workerArgs?: string[] } = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sway-rel-'));
  const fsData = join(dir, 'fileserver');
  const workerData = join(dir, 'worker');
  const cleanups: (() => unknown)[] = [];
  // One hook, in order: clients, workers (a clean stop unmounts), the fileserver, the proxy,
  // anything a killed worker left, then the files.
  t.after(async () => {
    for (const fn of cleanups.reverse()) { try { await fn(); } catch { /* keep cleaning */ } }
    await recoverLeftovers(new Runtime('runc', join(workerData, 'runc')), join(workerData, 'runs')).catch(() => {});
    await removeTempDir(dir);
  });

  const addUser = async (name: string, role: string) => {
    const r = await runSway(['fileserver', 'adduser', name, '--role', role, '--data-dir', fsData]);
    if (r.code !== 0) throw new Error(`adduser ${name}: ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!.trim();
  };
  const aliceToken = await addUser('alice', 'user');
  const workerToken = await addUser('worker-rel', 'worker');

  let fsPort = 0;
  let fileserver: RunningSway | undefined;
  let pastLogs = '';
  let ca = '';
  const startFileserver = async () => {
    const fsProc = startSway(['fileserver', '--data-dir', fsData, '--host', '127.0.0.1', '--port', String(fsPort)]);
    const line = await fsProc.waitForOutput(/fileserver listening on https:\/\/127\.0\.0\.1:(\d+) ca=(\S+)/, 60_000);
    fsPort = Number(line[1]);
    ca = line[2]!;
    fileserver = fsProc;
  };
  const killFileserver = async () => {
    if (!fileserver) return;
    const f = fileserver;
    fileserver = undefined;
    f.child.kill('SIGKILL');
    await f.exited;
    pastLogs += f.stderr();
  };
  cleanups.push(killFileserver);
  await startFileserver();
  const fileserverLog = () => pastLogs + (fileserver?.stderr() ?? '');

  const proxy = await FaultProxy.start(() => fsPort);
  cleanups.push(() => proxy.close());

  // The image: busybox, /data/f000.. (distinct random contents, 1-40 KB), /data/big.
  const rootfs = join(dir, 'rootfs');
  writeBusyboxRootfs(rootfs, {
    applets: APPLETS, dirs: ['etc', 'proc', 'sys', 'dev', 'root', 'data'],
    files: { 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', 'etc/group': 'root:x:0:\n' },
  });
  const files: DataFile[] = [];
  for (let i = 0; i < (opts.dataFiles ?? 20); i++) {
    const content = randomBytes(1024 + Math.floor(Math.random() * 40 * 1024));
    const rel = `data/f${String(i).padStart(3, '0')}`;
    await writeFile(join(rootfs, rel), content);
    files.push({ rel, hash: sha256(content), size: content.length });
  }
  const bigContent = randomBytes(opts.bigBytes ?? 4 * 1024 * 1024);
  await writeFile(join(rootfs, 'data/big'), bigContent);
  const big = { rel: 'data/big', hash: sha256(bigContent), size: bigContent.length };
  const publisher = new FileserverClient({ url: `https://127.0.0.1:${fsPort}`, token: aliceToken, caFile: ca });
  const image = await publishTree(publisher, rootfs, IMAGE, { workingDir: '/' });
  await publisher.close();

  let workerPort = 0;
  let workerCa = '';
  const clients: WorkerClient[] = [];
  const workers: RunningSway[] = [];
  cleanups.push(async () => { for (const c of clients) await c.close(); });
  cleanups.push(async () => { for (const w of workers) await w.stop(60_000); });
  // The logs of every worker and fileserver life, to read after a failure.
  cleanups.push(() => {
    const out = testOutputDir('reliability');
    writeFileSync(join(out, `${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80)}.log`),
      workers.map((w, i) => `=== worker life ${i + 1} (exit ${w.child.exitCode ?? w.child.signalCode ?? 'running'})\n${w.stderr()}`).join('\n') + `\n=== fileserver\n${fileserverLog()}`);
  });
  await mkdir(workerData, { recursive: true });

  const startWorker = async (): Promise<WorkerProcess> => {
    const proc = startSway(['worker', '--fileserver', proxy.url, '--token', workerToken, '--ca', ca,
      '--data-dir', workerData, '--host', '127.0.0.1', '--port', String(workerPort), ...(opts.workerArgs ?? [])]);
    workers.push(proc);
    const exited = new Promise<void>((resolve) => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) resolve();
      proc.child.once('exit', () => resolve());
    });
    const line = await proc.waitForOutput(/worker listening on https:\/\/127\.0\.0\.1:(\d+) ca=(\S+)/, 60_000);
    workerPort = Number(line[1]);
    workerCa = line[2]!;
    return {
      url: `https://127.0.0.1:${workerPort}`, pid: proc.child.pid!, log: () => proc.stderr(), exited,
      kill9: () => { proc.child.kill('SIGKILL'); },
      stop: async () => { await proc.stop(60_000); },
    };
  };

  const client = (token = aliceToken) => {
    const c = new WorkerClient({ url: `https://127.0.0.1:${workerPort}`, token, caFile: workerCa });
    clients.push(c);
    return c;
  };
  let shared: WorkerClient | undefined;
  const run: Cluster['run'] = async (command, o = {}) => {
    shared ??= client();
    let stdout = '', stderr = '';
    const outcome = await shared.run({ image: IMAGE, command }, {
      onStdout: (b) => { const s = b.toString(); stdout += s; o.onStdout?.(s); },
      onStderr: (b) => { stderr += b.toString(); },
      signal: o.signal,
    });
    return { ...outcome, stdout, stderr };
  };

  return {
    dir, fsData, workerData, get ca() { return ca; }, aliceToken, workerToken, proxy, image, files, big,
    fileserverPort: () => fsPort, startFileserver, killFileserver, fileserverLog,
    requestsFor: (hash) => fileserverLog().split('\n').filter((l) => l.includes(`GET /v1/blobs/${hash} `)).length,
    startWorker, client, run,
    storedBlobPath: (hash) => join(fsData, 'blobs', blobRelPath(hash)),
  };
}

/** The worker's /metrics value of a series (`name{labels}` as printed), 0 when absent. Needs the worker token. */
export async function metricValue(c: Cluster, series: string): Promise<number> {
  const client = c.client(c.workerToken);
  const res = await client.http.request('/metrics');
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
