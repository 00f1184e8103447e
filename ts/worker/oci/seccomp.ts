// The seccomp profile every container gets: default allow, and a deny-list (EPERM) of
// what Docker's default profile refuses to a container without CAP_SYS_ADMIN: kernel
// modules, kexec, mount and the new mount API, namespaces (unshare, setns, clone with
// CLONE_NEW* flags), keyrings, bpf, perf, ptrace and cross-process memory access, clock
// and swap changes, io_uring, userfaultfd, and obsolete calls. clone3 answers ENOSYS (as
// Docker does) so libc falls back to clone, whose flags seccomp can inspect.
// Deliberately does not: allow-list (Docker's 300-line allow-list buys little over this
// against the same kernel), or cover architectures other than x86_64/aarch64.

export interface SeccompSyscallRule {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: { index: number; value: number; valueTwo: number; op: 'SCMP_CMP_MASKED_EQ' }[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ALLOW';
  architectures: string[];
  syscalls: SeccompSyscallRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Syscalls refused outright. Names the kernel or libseccomp does not know are skipped by runc. */
export const DENIED_SYSCALLS: readonly string[] = [
  // kernel modules and kexec
  'create_module', 'init_module', 'finit_module', 'delete_module', 'query_module', 'get_kernel_syms',
  'kexec_load', 'kexec_file_load',
  // mounts, old and new API, and root changes
  'mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount',
  'open_tree', 'mount_setattr',
  // namespaces
  'unshare', 'setns',
  // keyrings
  'add_key', 'request_key', 'keyctl',
  // tracing and other processes' memory
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'perf_event_open', 'lookup_dcookie',
  'bpf', 'userfaultfd', 'pidfd_getfd',
  // io_uring (a large attack surface Docker also refuses now)
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  // host-wide settings
  'acct', 'reboot', 'swapon', 'swapoff', 'settimeofday', 'stime', 'clock_settime', 'clock_adjtime',
  'adjtimex', 'quotactl', 'quotactl_fd', 'nfsservctl', 'sysfs', '_sysctl', 'syslog', 'vhangup',
  // file handles bypass path permissions
  'name_to_handle_at', 'open_by_handle_at',
  // NUMA policy and obsolete or dangerous calls
  'mbind', 'set_mempolicy', 'get_mempolicy', 'move_pages', 'migrate_pages', 'uselib', 'ustat', 'vm86',
  'vm86old', 'ioperm', 'iopl',
];

/** Namespace flags of clone(2); a clone with any of them is refused (one rule per flag). */
export const CLONE_NAMESPACE_FLAGS: Readonly<Record<string, number>> = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

export function defaultSeccompProfile(): SeccompProfile {
  const syscalls: SeccompSyscallRule[] = [
    { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    // ENOSYS, not EPERM: glibc then falls back to clone(2), which the rules below inspect.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
  ];
  for (const flag of Object.values(CLONE_NAMESPACE_FLAGS)) {
    // Several args in one rule are ANDed, so each flag gets a rule of its own.
    // On x86_64 and aarch64 the flags are clone's first argument.
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] });
  }
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls,
  };
}
