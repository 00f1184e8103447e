// The OCI runtime's command line (runc, or gVisor's runsc, which takes the same
// commands): kill, delete, list, each an async child with the worker's own --root so
// the worker sees only its own containers. `run` is spawned by runner.ts, which streams.
// Deliberately does not: decide when to kill (runner.ts) or what to clean (recovery.ts).
import { basename } from 'node:path';
import { runChild } from './child.js';

export class Runtime {
  constructor(readonly binary: string, readonly root: string) {}

  /** gVisor's runsc, which needs its network mode as a flag rather than from the spec. */
  get isGvisor(): boolean { return basename(this.binary) === 'runsc'; }

  /** Arguments for `run`: no terminal, stdio passed through to the spawned process. */
  runArgs(bundle: string, id: string, opts: { network: boolean } = { network: false }): string[] {
    const extra = this.isGvisor ? [opts.network ? '--network=host' : '--network=none'] : [];
    return ['--root', this.root, ...extra, 'run', '--bundle', bundle, id];
  }

  async kill(id: string, signal = 'KILL'): Promise<boolean> {
    const r = await runChild(this.binary, ['--root', this.root, 'kill', id, signal]);
    return r.code === 0;
  }

  async delete(id: string): Promise<void> {
    await runChild(this.binary, ['--root', this.root, 'delete', '--force', id]);
  }

  /** Ids of the containers under this root (any state). */
  async list(): Promise<string[]> {
    const r = await runChild(this.binary, ['--root', this.root, 'list', '-q']);
    if (r.code !== 0) return [];
    return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }
}
