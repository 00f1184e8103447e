// sway on two "hosts" for benchmarks: the fileserver in one network namespace, the worker
// and the developer's CLI in the other, joined by a veth pair shaped with tc tbf
// (bandwidth) and a delaying TCP proxy in front of the fileserver (latency: half the RTT
// each way). Everything the worker fetches crosses that link; the link's byte counters
// (veth statistics) say how much did.
//
//   const hosts = await SwayHosts.start(dir, { rateMbit: 1000, rttMs: 1 });
//   await hosts.exportImage(projectDir);
//   await hosts.restartWorker({ clearCache: true });      // a cold worker
//   const r = await hosts.run(projectDir, 'app.py', /svd:/);
//   const rec = await hosts.lastRun();                      // the run log's record
//   await hosts.close();                                    // also on failure
import { rm, writeFile, readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createHostPair, type HostPair } from '../../test/helpers/netns.js';
import { runSway, SWAY_BIN, type RunningSway } from '../../test/helpers/cli.js';
import type { RunRecord } from '../../ts/worker/run-log.js';
import { timedCommand, type TimedResult } from './timed.js';

const FILESERVER_PORT = 8443;
const WORKER_PORT = 8444;

export interface ExportSummary {
  image: string;
  id: string;
  files: number;
  bytes: number;
  seconds: number;
  /** The podman image the export built (localhost/sway-export/USER-NAME:TAG). */
  podmanImage?: string;
}

export class SwayHosts {
  private worker?: RunningSway;
  private constructor(
    private readonly net: HostPair,
    private readonly dir: string,
    private readonly workerToken: string,
    private readonly fileserverUrl: string,
    private readonly fileserverCa: string,
    readonly env: Record<string, string>,
    /** Extra flags of `sway worker` (e.g. --no-gzip). */
    private readonly workerFlags: string[] = [],
  ) {}

  static async start(dir: string, link: { rateMbit: number; rttMs: number }, workerFlags: string[] = []): Promise<SwayHosts> {
    const net = await createHostPair();
    try {
      const fsData = join(dir, 'fileserver');
      const addUser = async (name: string, role: string) => {
        const r = await runSway(['fileserver', 'adduser', name, '--role', role, '--data-dir', fsData]);
        if (r.code !== 0) throw new Error(`adduser ${name}: ${r.stderr}`);
        return r.stdout.trim().split('\n').pop()!.trim();
      };
      const userToken = await addUser('bench', 'user');
      const workerToken = await addUser('bench-worker', 'worker');
      const fileserver = net.spawnSway(net.b, ['fileserver', '--data-dir', fsData, '--host', net.b.address, '--port', String(FILESERVER_PORT), '--san', net.b.address]);
      const fsLine = await fileserver.waitForOutput(/fileserver listening on (\S+) ca=(\S+)/, 120_000);
      await net.shape({ rateMbit: link.rateMbit });
      const proxy = await net.startDelayProxy(net.b, { targetHost: net.b.address, targetPort: FILESERVER_PORT, delayMs: link.rttMs / 2 });
      const fileserverUrl = `https://${proxy.host}:${proxy.port}`;
      const hosts = new SwayHosts(net, dir, workerToken, fileserverUrl, fsLine[2]!, {}, workerFlags);
      const workerCa = await hosts.startWorker();
      const caBundle = join(dir, 'ca-bundle.pem');
      await writeFile(caBundle, (await readFile(fsLine[2]!, 'utf8')) + (await readFile(workerCa, 'utf8')));
      Object.assign(hosts.env, {
        SWAY_FILESERVER: fileserverUrl,
        SWAY_WORKER: `https://${net.a.address}:${WORKER_PORT}`,
        SWAY_TOKEN: userToken,
        SWAY_CA: caBundle,
        SWAY_USERNAME: 'bench',
      });
      return hosts;
    } catch (err) {
      await net.destroy();
      throw err;
    }
  }

  /** The two namespaces (a: worker and CLI, b: fileserver), for other servers on the same link (the registry). */
  get hostPair(): HostPair {
    return this.net;
  }

  get workerDataDir(): string {
    return join(this.dir, 'worker');
  }

  get fileserverDataDir(): string {
    return join(this.dir, 'fileserver');
  }

  private async startWorker(): Promise<string> {
    this.worker = this.net.spawnSway(this.net.a, ['worker', '--fileserver', this.fileserverUrl, '--token', this.workerToken, '--ca', this.fileserverCa,
      '--data-dir', this.workerDataDir, '--host', this.net.a.address, '--port', String(WORKER_PORT), '--san', this.net.a.address, ...this.workerFlags]);
    const line = await this.worker.waitForOutput(/worker listening on (\S+) ca=(\S+)/, 120_000);
    // A worker that has been up a while holds its images in memory: a restarted one loads
    // the ones it used last in the background; measure it once that is done.
    await this.worker.waitForOutput(/images preloaded/, 120_000);
    return line[2]!;
  }

  /**
   * Stop the worker (it unmounts its FUSE filesystem, so its in-memory state is gone) and
   * start it again; with clearCache, its blob cache and stored manifests are deleted first.
   */
  async restartWorker(opts: { clearCache: boolean }): Promise<void> {
    await this.worker?.stop(60_000);
    if (opts.clearCache) {
      await rm(join(this.workerDataDir, 'cache'), { recursive: true, force: true });
      await rm(join(this.workerDataDir, 'manifests'), { recursive: true, force: true });
    }
    await this.startWorker();
  }

  /** `sway export --json` of a project directory, from the worker's host. */
  async exportImage(project: string): Promise<ExportSummary> {
    const r = await this.net.execSway(this.net.a, ['export', '--json'], { cwd: project, env: this.env, timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`sway export failed (${r.code}): ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ExportSummary;
  }

  /** `sway run SCRIPT` from the worker's host, timed to the ready line and to its exit. */
  run(project: string, script: string, ready: RegExp): Promise<TimedResult> {
    return timedCommand('nsenter', [`--net=/run/netns/${this.net.a.ns}`, '--', process.execPath, SWAY_BIN, 'run', script], { ready, env: this.env, cwd: project, timeoutMs: 600_000 });
  }

  /** The newest N runs of the run log (`sway runs --json --limit N`), newest first. */
  async recentRuns(n: number): Promise<RunRecord[]> {
    const r = await this.net.execSway(this.net.a, ['runs', '--json', '--limit', String(n)], { env: this.env });
    if (r.code !== 0) throw new Error(`sway runs failed: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { runs: RunRecord[] }).runs;
  }

  /** The newest run of the run log (`sway runs --json --limit 1`). */
  async lastRun(): Promise<RunRecord> {
    const r = await this.net.execSway(this.net.a, ['runs', '--json', '--limit', '1'], { env: this.env });
    if (r.code !== 0) throw new Error(`sway runs failed: ${r.stderr}`);
    const runs = (JSON.parse(r.stdout) as { runs: RunRecord[] }).runs;
    if (!runs[0]) throw new Error('the run log is empty');
    return runs[0];
  }

  /** The last lines the current worker wrote (its log), to explain a failed run. */
  workerLogTail(lines = 15): string {
    const text = (this.worker?.stdout() ?? '') + (this.worker?.stderr() ?? '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Bytes the worker's host has received over the link so far (veth rx counter). */
  linkBytesReceived(): number {
    const out = execFileSync('ip', ['-n', this.net.a.ns, '-s', '-j', 'link', 'show', this.net.a.iface], { encoding: 'utf8' });
    const [link] = JSON.parse(out) as { stats64?: { rx: { bytes: number } } }[];
    return link?.stats64?.rx.bytes ?? NaN;
  }

  /** Stop the worker (unmounting its filesystem), the fileserver and the proxy; delete the namespaces. */
  async close(): Promise<void> {
    try {
      await this.worker?.stop(60_000);
    } finally {
      await this.net.destroy();
    }
  }
}
