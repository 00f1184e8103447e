// Mount and unmount a run's overlay root (lower = the image, read-only; upper/work = the
// run's own directories) with mount(8)/umount(8) as async children: the kernel reads
// the lower layer from the FUSE mount, which this process serves (deadlock rule).
// Deliberately does not: create or delete the directories, or read any of them.
import { readFileSync } from 'node:fs';
import { SwayError } from '../common/errors.js';
import { runChild, firstLine } from './child.js';

export class OverlayError extends SwayError {
  constructor(message: string) { super('SWAY_OVERLAY', message, 500); this.name = 'OverlayError'; }
}

export async function mountOverlay(o: { lower: string; upper: string; work: string; target: string }): Promise<void> {
  for (const p of [o.lower, o.upper, o.work]) {
    // ',' and ':' separate overlay options and layers; our own paths never contain them.
    if (/[,:\\]/.test(p)) throw new OverlayError(`path ${JSON.stringify(p)} cannot be used in overlay options`);
  }
  const r = await runChild('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${o.lower},upperdir=${o.upper},workdir=${o.work}`, o.target]);
  if (r.code !== 0) throw new OverlayError(`cannot mount the run's overlay: ${firstLine(r.stderr) || `mount exited ${r.code}`}`);
}

/** Unmount; a busy mount is detached lazily. Resolves once nothing is mounted there. */
export async function unmountOverlay(target: string): Promise<void> {
  if (!isMounted(target)) return;
  const r = await runChild('umount', [target]);
  if (r.code === 0 && !isMounted(target)) return;
  const lazy = await runChild('umount', ['-l', target]);
  if (lazy.code !== 0 && isMounted(target)) throw new OverlayError(`cannot unmount ${target}: ${firstLine(lazy.stderr)}`);
}

/** Whether `path` is a mount point, from /proc/self/mountinfo (never stats the path). */
export function isMounted(path: string): boolean {
  return mountPoints().has(path);
}

export function mountPoints(): Set<string> {
  let info = '';
  try { info = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return new Set(); }
  const out = new Set<string>();
  for (const line of info.split('\n')) {
    const p = line.split(' ')[4];
    if (p) out.add(p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}
