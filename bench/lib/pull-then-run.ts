// The "pull-then-run" contender: what a start costs without lazy loading. The image is
// pushed (untimed) to a local registry (Debian's docker-registry, plain HTTP) running in
// the fileserver's namespace with its own config and storage in the benchmark's temp dir,
// behind the same kind of delay proxy as the fileserver; then each run, from the worker's
// namespace, over the same shaped link:
//   skopeo copy --src-tls-verify=false docker://REGISTRY/IMAGE oci:DIR:latest   (pull)
//   umoci raw unpack --image DIR:latest ROOTFS                                   (unpack)
//   runc run on an overlay over ROOTFS, the worker's config.json (NativeRunner)  (run)
// timed from the pull's start to the app's ready line. Plain HTTP inside the test network
// (no TLS): the baseline is, if anything, flattered. Not measured: podman's own pull
// (podman run fails here, rlimits) and image layer caching (every pull starts empty).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { HostPair } from '../../test/helpers/netns.js';
import type { RunningSway } from '../../test/helpers/cli.js';
import type { ImageConfig } from '../../ts/common/manifest.js';
import { NativeRunner } from './native.js';
import { timedCommand, type TimedResult } from './timed.js';

const REGISTRY_PORT = 5000;

export interface PullRunResult {
  /** Milliseconds from the pull's start to the ready line (pull + unpack + run). */
  readyMs: number;
  exitMs: number;
  pullMs: number;
  unpackMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** Bytes the worker's namespace received on the link during the pull. */
  linkBytes: number;
  /** HTTP requests the registry served during the pull (its access log). */
  requests: number;
  /** Bytes of the pulled OCI layout (compressed layers, config, manifest). */
  pulledBytes: number;
}

export class PullThenRun {
  private constructor(
    private readonly net: HostPair,
    private readonly dir: string,
    private readonly registry: RunningSway,
    /** host:port the worker's namespace pulls from (the delay proxy). */
    readonly pullAddress: string,
    private readonly linkBytesReceived: () => number,
  ) {}

  static async start(net: HostPair, dir: string, rttMs: number, linkBytesReceived: () => number): Promise<PullThenRun> {
    const storage = join(dir, 'storage');
    await mkdir(storage, { recursive: true });
    const config = join(dir, 'config.yml');
    await writeFile(config, [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      'http:',
      `  addr: ${net.b.address}:${REGISTRY_PORT}`,
      '',
    ].join('\n'));
    const registry = net.spawn(net.b, 'docker-registry', ['serve', config]);
    await registry.waitForOutput(/listening on/, 60_000);
    const proxy = await net.startDelayProxy(net.b, { targetHost: net.b.address, targetPort: REGISTRY_PORT, delayMs: rttMs / 2 });
    return new PullThenRun(net, dir, registry, `${proxy.host}:${proxy.port}`, linkBytesReceived);
  }

  /** Push a podman image (containers-storage) to the registry, from the fileserver's side (not over the link). */
  async push(image: string): Promise<string> {
    const name = image.replace(/^localhost\//, '');
    const r = await this.net.exec(this.net.b, 'skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `containers-storage:${image}`, `docker://${this.net.b.address}:${REGISTRY_PORT}/${name}`], { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`skopeo push of ${image} failed (${r.code}): ${r.stderr}`);
    return name;
  }

  private requestsServed(): number {
    return ((this.registry.stdout() + this.registry.stderr()).match(/"(?:GET|HEAD) \/v2\//g) ?? []).length;
  }

  /** One pull-then-run start of `name` (as returned by push); the caller drops caches first. */
  async run(name: string, config: ImageConfig, scriptName: string, ready: RegExp): Promise<PullRunResult> {
    const runDir = join(this.dir, 'run');
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    const layout = join(runDir, 'oci');
    const rootfs = join(runDir, 'rootfs');
    const linkBefore = this.linkBytesReceived();
    const requestsBefore = this.requestsServed();
    const failed = (what: string, r: TimedResult): PullRunResult => ({
      readyMs: NaN, exitMs: NaN, pullMs: NaN, unpackMs: NaN, code: r.code, stdout: r.stdout, stderr: `${what}: ${r.stderr}`, linkBytes: NaN, requests: NaN, pulledBytes: NaN,
    });
    try {
      const pull = await timedCommand('nsenter', [`--net=/run/netns/${this.net.a.ns}`, '--', 'skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${this.pullAddress}/${name}`, `oci:${layout}:latest`], { ready: /$^/, timeoutMs: 1_800_000 });
      if (pull.code !== 0) return failed('skopeo copy', pull);
      const linkBytes = this.linkBytesReceived() - linkBefore;
      // Let the registry's access log lines reach us before counting them.
      await new Promise((res) => setTimeout(res, 200));
      const requests = this.requestsServed() - requestsBefore;
      const unpack = await timedCommand('umoci', ['raw', 'unpack', '--image', `${layout}:latest`, rootfs], { ready: /$^/, timeoutMs: 1_800_000 });
      if (unpack.code !== 0) return failed('umoci raw unpack', unpack);
      const runner = NativeRunner.fromRootfs(join(runDir, 'native'), rootfs, config, scriptName);
      const r = await runner.run(ready);
      const before = pull.exitMs + unpack.exitMs;
      const pulledBytes = Number(execFileSync('du', ['-sb', layout], { encoding: 'utf8' }).split('\t')[0]);
      return { ...r, readyMs: before + r.readyMs, exitMs: before + r.exitMs, pullMs: pull.exitMs, unpackMs: unpack.exitMs, linkBytes, requests, pulledBytes };
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await this.registry.stop(5000);
  }
}
