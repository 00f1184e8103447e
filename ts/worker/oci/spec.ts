// The OCI runtime config (config.json) of one run, hardened at least like Docker's
// default: pid/ipc/uts/mount/cgroup namespaces and a network namespace with only `lo`
// (unless the run asks for the network), Docker's default capability set in the
// bounding/effective/permitted sets and none inheritable or ambient, noNewPrivileges,
// masked and read-only /proc and /sys paths, the seccomp allowlist of seccomp.ts,
// memory/pids/CPU limits in the run's own cgroup, rlimits no higher than the host's hard
// limits, and no terminal. Pure function: easy to test, nothing here touches the disk.
// Deliberately does not: decide limits' defaults for a request (run-request.ts), resolve
// users (user.ts), or run anything.
import type { ResolvedUser } from './user.js';
import { defaultSeccompProfile, type SeccompProfile } from './seccomp.js';

/** Docker's default capabilities (moby/oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Docker's masked paths: bind-mounted over with /dev/null (files) or an empty tmpfs (dirs). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export interface RunLimits {
  memoryMb: number;
  pids: number;
  /** CPUs as a fraction (0.5 = half a core), enforced by CFS quota. */
  cpus: number;
}

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  limits: RunLimits;
  /** true: share the host's network (opt-in); false: own namespace with only `lo`. */
  network: boolean;
  /** cgroups v1 path relative to each controller's root, e.g. `sway/<runId>`. */
  cgroupsPath: string;
  /** Host hard rlimits (host-limits.ts). */
  hostLimits: Map<string, number>;
  /** Root filesystem directory, relative to the bundle or absolute. */
  rootfs?: string;
}

const CFS_PERIOD_US = 100_000;
const WANTED_RLIMITS: Record<string, number> = { RLIMIT_NOFILE: 65536, RLIMIT_CORE: 0 };

export interface OciSpec {
  ociVersion: string;
  process: Record<string, unknown> & { args: string[]; env: string[]; cwd: string; capabilities: Record<string, string[]>; rlimits: { type: string; hard: number; soft: number }[]; noNewPrivileges: boolean; user: { uid: number; gid: number; additionalGids?: number[] } };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp: SeccompProfile;
    cgroupsPath: string;
    resources: Record<string, unknown> & { memory: { limit: number; swap: number }; pids: { limit: number }; cpu: { quota: number; period: number } };
    [k: string]: unknown;
  };
}

export function buildSpec(input: SpecInput): OciSpec {
  const caps = [...DEFAULT_CAPABILITIES];
  const memoryBytes = Math.round(input.limits.memoryMb * 1024 * 1024);
  const namespaces = ['pid', 'ipc', 'uts', 'mount', 'cgroup'];
  if (!input.network) namespaces.push('network');
  const mounts: OciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
  if (input.network) {
    // The host's resolver, read-only, so names resolve like on the host.
    mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: rlimits(input.hostLimits),
      noNewPrivileges: true,
      oomScoreAdj: 500, // the kernel's OOM killer picks a container before the worker
    },
    root: { path: input.rootfs ?? 'rootfs', readonly: false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces: namespaces.map((type) => ({ type })),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      seccomp: defaultSeccompProfile(),
      cgroupsPath: input.cgroupsPath,
      resources: {
        // Deny every device but the standard ones runc always creates.
        devices: [{ allow: false, access: 'rwm' }],
        // swap = memory: no swap beyond the memory limit.
        memory: { limit: memoryBytes, swap: memoryBytes },
        pids: { limit: input.limits.pids },
        cpu: { quota: Math.max(1000, Math.round(input.limits.cpus * CFS_PERIOD_US)), period: CFS_PERIOD_US },
      },
    },
  };
}

function rlimits(host: Map<string, number>): { type: string; hard: number; soft: number }[] {
  return Object.entries(WANTED_RLIMITS).map(([type, wanted]) => {
    const hard = Math.min(wanted, host.get(type) ?? wanted);
    return { type, hard, soft: hard };
  });
}
