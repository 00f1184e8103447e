// The seccomp profile every container gets: an allowlist with an errno default, after
// Docker's (moby's profiles/seccomp/default.json), for Docker's default capabilities, the
// set sway grants (spec.ts). A syscall the profile does not allow fails with EPERM; runc
// answers ENOSYS instead for numbers above the highest syscall the profile names that its
// libseccomp knows, so a libc falls back from a syscall newer than the list. Argument
// filters as Docker's: socket refuses AF_ALG and AF_VSOCK, personality allows only the
// usual personas, clone refuses CLONE_NEW* flags, clone3 answers ENOSYS (libc falls back to
// clone, whose flags seccomp can read).
// Differences from Docker's profile, each on purpose: ptrace and process_vm_readv/writev
// stay refused (Docker allows them on kernels >= 4.8); socketcall answers ENOSYS, because
// libseccomp turns every socket rule into an unconditional socketcall(SYS_SOCKET) allow for
// 32-bit x86, so the address family filter would not hold there (Docker tried this and
// reverted it for 32-bit programs built to use socketcall, which lose sockets: sway keeps
// the filter).
// Most of this file is data: ALLOWED_SYSCALLS is the list itself.
// Deliberately does not: rules for capabilities sway never grants (CAP_SYS_ADMIN and the
// others of Docker's `includes.caps`), kernel-version rules, or architectures other than
// x86_64 and aarch64 (elsewhere only the native one, without its arch-specific calls).

export type SeccompOp = 'SCMP_CMP_EQ' | 'SCMP_CMP_LT' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOp;
}

export interface SeccompSyscallRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompSyscallRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Allowed without conditions: Docker's list minus socketcall. Names the kernel or libseccomp does not know are skipped by runc. */
export const ALLOWED_SYSCALLS: readonly string[] = [
  'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'cachestat', 'capget', 'capset',
  'chdir', 'chmod', 'chown', 'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres',
  'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep',
  'clock_nanosleep_time64', 'close', 'close_range', 'connect', 'copy_file_range', 'creat', 'dup',
  'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait',
  'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2', 'execve', 'execveat', 'exit',
  'exit_group', 'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fanotify_mark',
  'fchdir', 'fchmod', 'fchmodat', 'fchmodat2', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64',
  'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork', 'fremovexattr', 'fsetxattr', 'fstat',
  'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futex',
  'futex_requeue', 'futex_time64', 'futex_wait', 'futex_waitv', 'futex_wake', 'futimesat', 'getcpu',
  'getcwd', 'getdents', 'getdents64', 'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid',
  'getgid32', 'getgroups', 'getgroups32', 'getitimer', 'getpeername', 'getpgid', 'getpgrp', 'getpid',
  'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid', 'getresuid32',
  'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'getsockname', 'getsockopt',
  'get_thread_area', 'gettid', 'gettimeofday', 'getuid', 'getuid32', 'getxattr', 'getxattrat',
  'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl',
  'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'ioprio_get', 'ioprio_set',
  'io_setup', 'io_submit', 'ipc', 'kill', 'landlock_add_rule', 'landlock_create_ruleset',
  'landlock_restrict_self', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat', 'listen', 'listmount',
  'listxattr', 'listxattrat', 'llistxattr', '_llseek', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat',
  'lstat64', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore',
  'mkdir', 'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect',
  'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
  'mq_timedsend_time64', 'mq_unlink', 'mremap', 'mseal', 'msgctl', 'msgget', 'msgrcv', 'msgsnd',
  'msync', 'munlock', 'munlockall', 'munmap', 'name_to_handle_at', 'nanosleep', 'newfstatat',
  '_newselect', 'open', 'openat', 'openat2', 'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe',
  'pipe2', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'poll', 'ppoll', 'ppoll_time64', 'prctl',
  'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease', 'pselect6', 'pselect6_time64',
  'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'recv',
  'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'remap_file_pages', 'removexattr',
  'removexattrat', 'rename', 'renameat', 'renameat2', 'restart_syscall', 'riscv_hwprobe', 'rmdir',
  'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
  'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo',
  'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max',
  'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
  'sched_setscheduler', 'sched_yield', 'seccomp', 'select', 'semctl', 'semget', 'semop', 'semtimedop',
  'semtimedop_time64', 'send', 'sendfile', 'sendfile64', 'sendmmsg', 'sendmsg', 'sendto', 'setfsgid',
  'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32', 'setgroups', 'setgroups32',
  'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32',
  'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid',
  'setsockopt', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'setxattr', 'setxattrat',
  'shmat', 'shmctl', 'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4',
  'sigprocmask', 'sigreturn', 'socketpair', 'splice', 'stat', 'stat64', 'statfs', 'statfs64',
  'statmount', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'sysinfo', 'tee',
  'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime',
  'timer_gettime64', 'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime',
  'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64', 'times', 'tkill', 'truncate',
  'truncate64', 'ugetrlimit', 'umask', 'uname', 'unlink', 'unlinkat', 'uretprobe', 'utime',
  'utimensat', 'utimensat_time64', 'utimes', 'vfork', 'vmsplice', 'wait4', 'waitid', 'waitpid',
  'write', 'writev',
  // CAP_SYS_CHROOT is in sway's capability set
  'chroot',
];

/** Per host architecture: the filter's architectures (native and compat) and the calls only that architecture has. */
const ARCHES: Readonly<Record<string, { architectures: string[]; names: string[] }>> = {
  x64: { architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], names: ['arch_prctl', 'modify_ldt'] },
  arm64: {
    architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  },
};

/** Socket families refused: the kernel crypto API and host-guest sockets (the hypervisor's vsock ports). */
const AF_ALG = 38;
const AF_VSOCK = 40;

/** personality(2) values allowed: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, and the 0xffffffff query. */
const ALLOWED_PERSONAS: readonly number[] = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone is allowed only with none of them. */
const CLONE_NAMESPACE_MASK = 0x7e020000;

export function defaultSeccompProfile(arch: string = process.arch): SeccompProfile {
  const host = ARCHES[arch];
  const allow = (names: string[], args?: SeccompArg[]): SeccompSyscallRule => ({ names, action: 'SCMP_ACT_ALLOW', ...(args ? { args } : {}) });
  const arg0 = (op: SeccompOp, value: number, valueTwo = 0): SeccompArg[] => [{ index: 0, value, valueTwo, op }];
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    // No list: libseccomp's native architecture only.
    architectures: host ? [...host.architectures] : [],
    syscalls: [
      allow([...ALLOWED_SYSCALLS, ...(host?.names ?? [])]),
      // Before the socket rules, whose socketcall companions it overrides. Not EPERM: runc
      // drops a rule whose action equals the default, and the companions would stay.
      { names: ['socketcall'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      // Every family but AF_ALG and AF_VSOCK (the args of one rule are ANDed, so three rules).
      allow(['socket'], arg0('SCMP_CMP_LT', AF_ALG)),
      allow(['socket'], arg0('SCMP_CMP_EQ', AF_ALG + 1)),
      allow(['socket'], arg0('SCMP_CMP_GT', AF_VSOCK)),
      ...ALLOWED_PERSONAS.map((p) => allow(['personality'], arg0('SCMP_CMP_EQ', p))),
      // The flags are clone's first argument on x86 and arm (s390 differs, not supported).
      allow(['clone'], arg0('SCMP_CMP_MASKED_EQ', CLONE_NAMESPACE_MASK, 0)),
      // ENOSYS, not EPERM: libc then falls back to clone, whose flags the rule above reads.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}
