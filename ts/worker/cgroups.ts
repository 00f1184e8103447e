// Where runs' cgroups live (cgroups v1 on this host: one directory per controller) and
// how to remove one a crash left behind. runc creates and deletes them itself; this is
// only the safety net. Works on a v2 (unified) host too: the path is then one directory.
// Deliberately does not: set limits (they are in config.json) or touch other cgroups.
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const PARENT = 'sway';

/** The cgroupsPath of a run in its config.json. */
export function cgroupPathOf(runId: string): string {
  return `/${PARENT}/${runId}`;
}

/** Every directory that would hold this run's cgroup, one per mounted hierarchy. */
export function cgroupDirsOf(runId: string): string[] {
  let controllers: string[] = [];
  try { controllers = readdirSync(CGROUP_ROOT); } catch { return []; }
  const dirs = [join(CGROUP_ROOT, PARENT, runId)];
  for (const c of controllers) dirs.push(join(CGROUP_ROOT, c, PARENT, runId));
  return dirs;
}

/** Remove a run's empty cgroup directories; a cgroup with live processes stays (EBUSY). */
export function removeRunCgroups(runId: string): void {
  for (const dir of cgroupDirsOf(runId)) {
    try { rmdirSync(dir); } catch { /* absent, or busy: nothing more we can do */ }
  }
}
