// One container run, start to finish: a run directory with the bundle, the overlay
// root (lower = the image, upper/work = the run's own), the script placed at
// <WORKDIR>/<name> in the upper layer, config.json from the image config, then
// `runc run` with stdout and stderr as two pipes streamed to a sink as they come, a
// wall-clock timeout, cancellation, and cleanup of container, overlay, cgroup and
// directories (the upper directory survives only when the run asked to keep it).
//
// Deadlock rule: the image root may be on the FUSE mount this process serves, so this
// file never reads it; mount, umount and runc are async child processes. The only
// stdio runc gets is /dev/null and the two pipes: no other descriptor of the worker is
// inherited (Node opens everything close-on-exec).
// Deliberately does not: authenticate, fetch scripts or images, or answer HTTP.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadRequestError, SwayError } from '../common/errors.js';
import { isCleanRelativePath } from '../common/manifest.js';
import { buildSpec } from './oci/spec.js';
import { resolveUser } from './oci/user.js';
import { buildEnv, resolveArgs, scriptPathIn } from './run-command.js';
import { mountOverlay, unmountOverlay } from './overlay.js';
import { cgroupPathOf, removeRunCgroups } from './cgroups.js';
import { counterDelta, type CacheCounters, type PreparedImage } from './images/provider.js';
import type { Runtime } from './runc.js';
import type { RunRequest } from './run-request.js';

export type StreamName = 'stdout' | 'stderr';

/** Where output goes; `write` returning false pauses the container's pipes until drain. */
export interface OutputSink {
  write(stream: StreamName, chunk: Buffer): boolean;
  onceDrain(cb: () => void): void;
}

export interface RunResult {
  runId: string;
  /** The container's status; 128+N when killed by signal N. */
  exit: number;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  counters: CacheCounters;
  /** The upper directory, when the run asked to keep it. */
  keptUpper?: string;
}

export interface RunnerOptions {
  /** Parent of the runs' directories (D/runs). */
  runsDir: string;
  runtime: Runtime;
  hostLimits: Map<string, number>;
  log?: (line: string) => void;
}

export interface StartRun {
  runId?: string;
  request: RunRequest;
  image: PreparedImage;
  script?: Buffer;
  sink: OutputSink;
  /** Aborted when the client goes away: the container is killed. */
  signal: AbortSignal;
  /** Called once the container is about to start (for the run log). */
  onStart?: (info: { runId: string; args: string[] }) => void;
}

export class Runner {
  constructor(private readonly opts: RunnerOptions) {}

  async run(start: StartRun): Promise<RunResult> {
    const { request, image, sink, signal } = start;
    const runId = start.runId ?? randomUUID();
    const runDir = join(this.opts.runsDir, runId);
    const bundle = join(runDir, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    const upper = join(runDir, 'upper');
    const work = join(runDir, 'work');
    const before = image.counters();
    const started = Date.now();
    let mounted = false;
    const profileRun = image.startRun?.();
    try {
      await mkdir(rootfs, { recursive: true, mode: 0o700 });
      await mkdir(upper, { mode: 0o755 });
      await mkdir(work, { mode: 0o700 });
      const config = image.config;
      if (start.script && request.script) {
        await this.placeScript(image, upper, scriptPathIn(config, request.script.name), start.script);
      }
      // Both at once: on a cold worker each is a fetch from the fileserver.
      const [passwd, group] = await Promise.all([image.readFile('etc/passwd'), image.readFile('etc/group')]);
      const user = resolveUser(config.user, passwd?.toString('utf8'), group?.toString('utf8'));
      const args = resolveArgs(config, { command: request.command, scriptName: request.script?.name, args: request.args });
      const spec = buildSpec({
        args,
        env: buildEnv(config.env, user.home, { HOSTNAME: runId.slice(0, 12), ...request.env }),
        cwd: config.workingDir || '/',
        user,
        hostname: runId.slice(0, 12),
        limits: request.limits,
        network: request.network,
        cgroupsPath: cgroupPathOf(runId),
        hostLimits: this.opts.hostLimits,
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 1), { mode: 0o600 });
      if (signal.aborted) return this.result(runId, 130, started, image, before, { cancelled: true });
      await mountOverlay({ lower: image.root, upper, work, target: rootfs });
      mounted = true;
      start.onStart?.({ runId, args });
      const outcome = await this.runContainer(runId, bundle, sink, signal, request.limits.timeoutSec * 1000, request.network);
      return this.result(runId, outcome.exit, started, image, before, { ...outcome, keptUpper: request.keep ? upper : undefined });
    } finally {
      profileRun?.finish();
      await this.cleanup(runId, runDir, rootfs, mounted, request.keep);
    }
  }

  /**
   * The script goes into the upper layer, in WORKDIR's place inside the image (a WORKDIR that
   * is a symlink in the image stays one; '..' and links never lead out of the image, so
   * nothing outside `upper` is created or changed); directories it creates take the image's
   * owner and mode.
   */
  private async placeScript(image: PreparedImage, upper: string, scriptPath: string, content: Buffer): Promise<void> {
    const wanted = posix.dirname(scriptPath);
    const realDir = await image.dirInRoot(wanted);
    if (realDir === undefined || !isCleanRelativePath(realDir)) throw new BadRequestError(`the image's working directory ${JSON.stringify(wanted)} is not a directory in the image`);
    let relative = '';
    for (const part of realDir.split('/').filter(Boolean)) {
      relative = relative ? `${relative}/${part}` : part;
      const target = join(upper, relative);
      await mkdir(target).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err; });
      const attrs = await image.stat(relative);
      if (attrs) {
        // The upper copy of a directory hides the lower's attributes: keep them the same.
        await chown(target, attrs.uid, attrs.gid);
        await chmod(target, attrs.mode & 0o7777);
      } else {
        await chmod(target, 0o755);
      }
    }
    const file = join(upper, realDir, posix.basename(scriptPath));
    await writeFile(file, content, { mode: 0o755 });
    await chmod(file, 0o755);
  }

  private runContainer(runId: string, bundle: string, sink: OutputSink, signal: AbortSignal, timeoutMs: number, network: boolean): Promise<{ exit: number; timedOut: boolean; cancelled: boolean }> {
    const rt = this.opts.runtime;
    return new Promise((resolve, reject) => {
      let spawnError: Error | undefined;
      const child = spawn(rt.binary, rt.runArgs(bundle, runId, { network }), { stdio: ['ignore', 'pipe', 'pipe'] });
      let exited = false, timedOut = false, cancelled = false;
      const pipes = [child.stdout, child.stderr];
      const forward = (name: StreamName) => (chunk: Buffer) => {
        if (!sink.write(name, chunk)) {
          for (const p of pipes) p.pause();
          sink.onceDrain(() => { for (const p of pipes) p.resume(); });
        }
      };
      child.stdout.on('data', forward('stdout'));
      child.stderr.on('data', forward('stderr'));
      // runc kill fails until the container exists: retry until `runc run` has exited.
      const killContainer = async () => {
        for (let attempt = 0; !exited && attempt < 200; attempt++) {
          await rt.kill(runId, 'KILL');
          if (exited) return;
          await sleep(Math.min(1000, 50 * (attempt + 1)));
        }
      };
      const timer = setTimeout(() => { timedOut = true; void killContainer(); }, timeoutMs);
      const onAbort = () => { cancelled = true; void killContainer(); };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      child.on('error', (err) => { spawnError = err; });
      child.on('close', (code, sig) => {
        exited = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (spawnError) { reject(new SwayError('SWAY_RUNTIME', `cannot start the container runtime ${rt.binary}: ${(spawnError as NodeJS.ErrnoException).code ?? spawnError.message}`, 500)); return; }
        const exit = code ?? 128 + (sig ? osConstants.signals[sig] ?? 0 : 0);
        resolve({ exit, timedOut, cancelled });
      });
    });
  }

  private result(runId: string, exit: number, started: number, image: PreparedImage, before: CacheCounters, extra: { timedOut?: boolean; cancelled?: boolean; keptUpper?: string }): RunResult {
    return {
      runId, exit,
      timedOut: extra.timedOut ?? false,
      cancelled: extra.cancelled ?? false,
      durationMs: Date.now() - started,
      counters: counterDelta(image.counters(), before),
      ...(extra.keptUpper ? { keptUpper: extra.keptUpper } : {}),
    };
  }

  private async cleanup(runId: string, runDir: string, rootfs: string, mounted: boolean, keep: boolean): Promise<void> {
    const log = this.opts.log ?? (() => {});
    try {
      await this.opts.runtime.delete(runId);
      if (mounted) await unmountOverlay(rootfs);
      removeRunCgroups(runId);
      if (keep) {
        await rm(join(runDir, 'bundle'), { recursive: true, force: true });
        await rm(join(runDir, 'work'), { recursive: true, force: true });
      } else {
        await rm(runDir, { recursive: true, force: true });
      }
    } catch (err) {
      // Left for the next start's recovery; never let cleanup hide the run's result.
      log(`cleanup of run ${runId} incomplete: ${(err as Error).message}`);
    }
  }
}
