// The "native" contender: the same app run by runc on a plain extracted copy of the
// image's rootfs on local disk (ext4), the physical limit for a start. Each run gets the
// same treatment as a sway run, minus the lazy filesystem: an overlay root (lower = the
// extracted rootfs, upper = the run's own directory, so the app can write), the worker's
// own hardened config.json (ts/worker/oci/spec.ts, same default limits), `runc run`.
// Timed from the overlay mount to runc's exit; cleaned up after every run.
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, rmdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, posix } from 'node:path';
import { buildSpec } from '../../ts/worker/oci/spec.js';
import { resolveUser } from '../../ts/worker/oci/user.js';
import { hostHardLimits } from '../../ts/worker/oci/host-limits.js';
import { buildEnv, resolveArgs, scriptPathIn } from '../../ts/worker/run-command.js';
import { DEFAULT_LIMITS } from '../../ts/worker/run-request.js';
import { mountOverlay, unmountOverlay } from '../../ts/worker/overlay.js';
import type { ImageConfig } from '../../ts/common/manifest.js';
import { timedCommand, type TimedResult } from './timed.js';

/** Own cgroup parent, so a worker's recovery (which sweeps /sway/*) never touches ours. */
const CGROUP_PARENT = 'sway-bench';

export class NativeRunner {
  private runs = 0;
  private constructor(private readonly dir: string, private readonly rootfs: string, private readonly config: ImageConfig, private readonly scriptName: string) {}

  /** Extract the rootfs tarball into DIR/rootfs and place the script in WORKDIR. */
  static async prepare(dir: string, tarball: string, config: ImageConfig, script: { name: string; path: string }): Promise<NativeRunner> {
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    execFileSync('tar', ['-xf', tarball, '-C', rootfs, '--numeric-owner']);
    return NativeRunner.withScript(dir, rootfs, config, script);
  }

  /**
   * Copy a podman image's tree (podman image mount, cp -a) into DIR/rootfs and place the
   * script in WORKDIR: for workloads whose rootfs is not the base tarball.
   */
  static async prepareFromImage(dir: string, image: string, config: ImageConfig, script: { name: string; path: string }): Promise<NativeRunner> {
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    const mounted = execFileSync('podman', ['image', 'mount', image], { encoding: 'utf8' }).trim();
    try {
      execFileSync('cp', ['-a', `${mounted}/.`, rootfs]);
    } finally {
      execFileSync('podman', ['image', 'unmount', image], { stdio: 'ignore' });
    }
    return NativeRunner.withScript(dir, rootfs, config, script);
  }

  /** A rootfs that already holds the app (e.g. unpacked from a pulled image): used as is. */
  static fromRootfs(dir: string, rootfs: string, config: ImageConfig, scriptName: string): NativeRunner {
    return new NativeRunner(dir, rootfs, config, scriptName);
  }

  private static async withScript(dir: string, rootfs: string, config: ImageConfig, script: { name: string; path: string }): Promise<NativeRunner> {
    const inImage = join(rootfs, scriptPathIn(config, script.name));
    await mkdir(posix.dirname(inImage), { recursive: true });
    await cp(script.path, inImage);
    return new NativeRunner(dir, rootfs, config, script.name);
  }

  get rootfsDir(): string {
    return this.rootfs;
  }

  /**
   * One run. With `traceTo`, runc runs under `strace -f` writing the open/openat calls to
   * that file (to learn which files the app opens; the timing of such a run means nothing).
   */
  async run(ready: RegExp, opts: { traceTo?: string } = {}): Promise<TimedResult> {
    const id = `native-${process.pid}-${++this.runs}`;
    const runDir = join(this.dir, 'runs', id);
    const bundle = join(runDir, 'bundle');
    const target = join(bundle, 'rootfs');
    const upper = join(runDir, 'upper');
    const work = join(runDir, 'work');
    const runcRoot = join(this.dir, 'runc');
    await mkdir(target, { recursive: true });
    await mkdir(upper);
    await mkdir(work);
    const passwd = await readFile(join(this.rootfs, 'etc/passwd'), 'utf8').catch(() => undefined);
    const group = await readFile(join(this.rootfs, 'etc/group'), 'utf8').catch(() => undefined);
    const user = resolveUser(this.config.user, passwd, group);
    const spec = buildSpec({
      args: resolveArgs(this.config, { scriptName: this.scriptName }),
      env: buildEnv(this.config.env, user.home, { HOSTNAME: id.slice(0, 12) }),
      cwd: this.config.workingDir || '/',
      user,
      hostname: id.slice(0, 12),
      limits: { memoryMb: DEFAULT_LIMITS.memoryMb, pids: DEFAULT_LIMITS.pids, cpus: DEFAULT_LIMITS.cpus },
      network: false,
      cgroupsPath: `/${CGROUP_PARENT}/${id}`,
      hostLimits: hostHardLimits(),
    });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    let mounted = false;
    try {
      const started = performance.now();
      await mountOverlay({ lower: this.rootfs, upper, work, target });
      mounted = true;
      const mountMs = performance.now() - started;
      const runc = ['runc', '--root', runcRoot, 'run', '--bundle', bundle, id];
      const [command, ...args] = opts.traceTo ? ['strace', '-f', '-qq', '-e', 'trace=open,openat,execve', '-o', opts.traceTo, ...runc] : runc;
      const r = await timedCommand(command!, args, { ready, timeoutMs: 300_000 });
      return { ...r, readyMs: r.readyMs + mountMs, exitMs: r.exitMs + mountMs };
    } finally {
      try {
        execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // Already deleted by runc run's exit.
      }
      if (mounted) await unmountOverlay(target);
      removeCgroup(`${CGROUP_PARENT}/${id}`);
      await rm(runDir, { recursive: true, force: true });
    }
  }

  /** Remove the shared cgroup parent (after the last run). */
  close(): void {
    removeCgroup(CGROUP_PARENT);
  }
}

function removeCgroup(relative: string): void {
  let controllers: string[] = [];
  try {
    controllers = readdirSync('/sys/fs/cgroup');
  } catch {
    return;
  }
  for (const dir of [join('/sys/fs/cgroup', relative), ...controllers.map((c) => join('/sys/fs/cgroup', c, relative))]) {
    try {
      rmdirSync(dir);
    } catch {
      // Absent or busy.
    }
  }
}
