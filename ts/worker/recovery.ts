// At worker start, remove what a crashed predecessor left: containers under our runc
// root (killed, deleted), overlay mounts under the runs directory (lazily detached),
// the runs' cgroups, and unfinished run directories. A run directory holding only an
// `upper` directory is a kept run (the user asked for it) and stays.
// Deliberately does not: touch the FUSE mount (LazyFilesystem.mount clears a stale one)
// or any cgroup or container that is not ours.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountPoints, unmountOverlay } from './overlay.js';
import { removeRunCgroups } from './cgroups.js';
import type { Runtime } from './runc.js';

export interface RecoveryReport { containers: number; mounts: number; runDirs: number }

export async function recoverLeftovers(runtime: Runtime, runsDir: string, log: (line: string) => void = () => {}): Promise<RecoveryReport> {
  const report: RecoveryReport = { containers: 0, mounts: 0, runDirs: 0 };
  const started = Date.now();
  // All at once: the next worker accepts runs only after this, and each runc call costs ~50 ms.
  await Promise.all((await runtime.list()).map(async (id) => {
    await runtime.kill(id, 'KILL');
    await runtime.delete(id);
    removeRunCgroups(id);
    report.containers++;
  }));
  const prefix = runsDir.replace(/\/+$/, '') + '/';
  const stale = [...mountPoints()].filter((p) => p.startsWith(prefix)).sort((a, b) => b.length - a.length);
  for (const p of stale) {
    await unmountOverlay(p).catch((err: Error) => log(`recovery: ${err.message}`));
    report.mounts++;
  }
  let entries: string[] = [];
  try { entries = await readdir(runsDir); } catch { /* first start */ }
  const stillMounted = [...mountPoints()].filter((p) => p.startsWith(prefix));
  for (const id of entries) {
    const inner = await readdir(join(runsDir, id)).catch(() => [] as string[]);
    removeRunCgroups(id);
    if (inner.length === 1 && inner[0] === 'upper') continue;
    // Never recurse into a mount we could not detach: its lower layer may be our own FUSE mount.
    if (stillMounted.some((p) => p.startsWith(join(runsDir, id) + '/'))) { log(`recovery: ${id} is still mounted; left in place`); continue; }
    await rm(join(runsDir, id), { recursive: true, force: true });
    report.runDirs++;
  }
  if (report.containers + report.mounts + report.runDirs > 0) {
    log(`recovery: removed ${report.containers} containers, ${report.mounts} mounts, ${report.runDirs} run directories left by a previous worker (${Date.now() - started} ms)`);
  }
  return report;
}
