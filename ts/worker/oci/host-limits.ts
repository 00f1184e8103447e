// The host's hard resource limits (from /proc/self/limits), so a container's rlimits are
// never set above them (runc would fail, or the container would get more than the host).
// Deliberately does not: change the host's limits.
import { readFileSync } from 'node:fs';

/** RLIMIT name as OCI spells it → host hard limit (Infinity for "unlimited"). */
export function hostHardLimits(text = readLimitsFile()): Map<string, number> {
  const names: Record<string, string> = {
    'Max open files': 'RLIMIT_NOFILE',
    'Max processes': 'RLIMIT_NPROC',
    'Max core file size': 'RLIMIT_CORE',
    'Max stack size': 'RLIMIT_STACK',
  };
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    for (const [label, rlimit] of Object.entries(names)) {
      if (!line.startsWith(label)) continue;
      const fields = line.slice(label.length).trim().split(/\s+/);
      const hard = fields[1];
      out.set(rlimit, hard === 'unlimited' ? Infinity : Number(hard));
    }
  }
  return out;
}

function readLimitsFile(): string {
  try { return readFileSync('/proc/self/limits', 'utf8'); } catch { return ''; }
}
