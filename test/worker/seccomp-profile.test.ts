// Unit tests of the seccomp profile's data (no container; seccomp.test.ts runs it under
// runc): an errno default, well-formed unique names, errno rules runc will not drop,
// Docker's refused syscalls absent, and the argument filters of socket, personality and
// clone read the way libseccomp reads them (a small evaluator of the profile's rules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSeccompProfile, type SeccompProfile, type SeccompArg } from '../../ts/worker/oci/seccomp.js';

const EPERM = 1, ENOSYS = 38;

const profile = defaultSeccompProfile('x64');

function argMatches(a: SeccompArg, value: number): boolean {
  switch (a.op) {
    case 'SCMP_CMP_EQ': return value === a.value;
    case 'SCMP_CMP_LT': return value < a.value;
    case 'SCMP_CMP_GT': return value > a.value;
    case 'SCMP_CMP_MASKED_EQ': return (BigInt(value) & BigInt(a.value)) === BigInt(a.valueTwo ?? 0);
  }
}

/** What the profile answers to `name(arg0)`: 'allow' or the errno. */
function verdict(p: SeccompProfile, name: string, arg0 = 0): 'allow' | number {
  const rules = p.syscalls.filter((r) => r.names.includes(name));
  const hit = rules.find((r) => !r.args) ?? rules.find((r) => r.args!.every((a) => a.index === 0 && argMatches(a, arg0)));
  if (!hit) return p.defaultErrnoRet;
  return hit.action === 'SCMP_ACT_ALLOW' ? 'allow' : hit.errnoRet ?? p.defaultErrnoRet;
}

test('seccomp profile: an allowlist whose default action is an errno (EPERM), not allow', () => {
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(profile.defaultErrnoRet, EPERM);
  assert.equal(profile.syscalls.some((r) => r.action === 'SCMP_ACT_ALLOW'), true);
  assert.equal(verdict(profile, 'read'), 'allow');
  assert.equal(verdict(profile, 'some_syscall_of_next_year'), EPERM);
});

test('seccomp profile: every name is a syscall-shaped string, none listed twice or both with and without conditions', () => {
  const unconditional: string[] = [];
  const conditional = new Set<string>();
  for (const r of profile.syscalls) {
    assert.ok(r.names.length > 0);
    for (const n of r.names) {
      assert.equal(typeof n, 'string');
      assert.match(n, /^[a-z_][a-z0-9_]*$/);
    }
    if (r.args) r.names.forEach((n) => conditional.add(n));
    else unconditional.push(...r.names);
  }
  const dupes = unconditional.filter((n, i) => unconditional.indexOf(n) !== i);
  assert.deepEqual(dupes, []);
  // An unconditional rule would make the same name's argument filter moot.
  assert.deepEqual([...conditional].filter((n) => unconditional.includes(n)), []);
  assert.deepEqual([...conditional].sort(), ['clone', 'personality', 'socket']);
});

test('seccomp profile: errno rules differ from the default errno (runc silently drops a rule equal to the default)', () => {
  const errnoRules = profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ERRNO');
  assert.deepEqual(errnoRules.flatMap((r) => r.names).sort(), ['clone3', 'socketcall']);
  for (const r of errnoRules) assert.equal(r.errnoRet, ENOSYS, r.names.join());
});

test('seccomp profile: what Docker refuses without CAP_SYS_ADMIN and friends is not allowed, nor ptrace, nor socketcall', () => {
  const refused = [
    'mount', 'umount2', 'pivot_root', 'fsopen', 'fsmount', 'move_mount', 'open_tree', 'mount_setattr', 'unshare', 'setns',
    'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'fanotify_init', 'lookup_dcookie', 'quotactl',
    'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise',
    'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module',
    'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'userfaultfd', 'open_by_handle_at',
    'reboot', 'swapon', 'swapoff', 'settimeofday', 'clock_settime', 'syslog', 'acct', 'vhangup', 'sethostname',
    'setdomainname', 'mbind', 'set_mempolicy', 'move_pages', 'migrate_pages', 'iopl', 'ioperm', 'vm86',
    'sysfs', '_sysctl', 'uselib', 'ustat', 'nfsservctl', 'lsm_set_self_attr',
  ];
  for (const name of refused) assert.equal(verdict(profile, name), EPERM, name);
  assert.equal(verdict(profile, 'socketcall', 1), ENOSYS);
  assert.equal(verdict(profile, 'clone3'), ENOSYS);
  for (const name of ['chroot', 'execve', 'futex', 'mmap', 'arch_prctl', 'name_to_handle_at', 'seccomp', 'rseq']) {
    assert.equal(verdict(profile, name), 'allow', name);
  }
});

test('seccomp profile: socket refuses AF_ALG and AF_VSOCK only; personality allows only the usual personas', () => {
  for (let family = 0; family <= 64; family++) {
    assert.equal(verdict(profile, 'socket', family), family === 38 || family === 40 ? EPERM : 'allow', `family ${family}`);
  }
  // Docker's: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, and the 0xffffffff query
  for (const persona of [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff]) assert.equal(verdict(profile, 'personality', persona), 'allow', persona.toString(16));
  // PER_BSD, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT, PER_LINUX32, WHOLE_SECONDS
  for (const persona of [0x0006, 0x0400000, 0x0100000, 0x0200000, 0x0008 | 0x0400000, 0x2000000, 0xfffffffe]) {
    assert.equal(verdict(profile, 'personality', persona), EPERM, persona.toString(16));
  }
});

test('seccomp profile: clone is refused with any CLONE_NEW* flag, allowed for fork and threads', () => {
  const newFlags = { NS: 0x00020000, CGROUP: 0x02000000, UTS: 0x04000000, IPC: 0x08000000, USER: 0x10000000, PID: 0x20000000, NET: 0x40000000 };
  for (const [name, flag] of Object.entries(newFlags)) {
    assert.equal(verdict(profile, 'clone', flag | 0x11), EPERM, `CLONE_NEW${name}`);
  }
  // SIGCHLD; glibc's fork (CHILD_SETTID|CHILD_CLEARTID|SIGCHLD); pthread_create's flags
  for (const flags of [0x11, 0x01200011, 0x003d0f00]) assert.equal(verdict(profile, 'clone', flags), 'allow', flags.toString(16));
});

test('seccomp profile: the host architecture with its compat one, and only its own arch-specific calls', () => {
  const arm = defaultSeccompProfile('arm64');
  assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.equal(verdict(arm, 'set_tls'), 'allow');
  assert.equal(verdict(arm, 'arch_prctl'), EPERM);
  assert.equal(verdict(profile, 'set_tls'), EPERM);
  const other = defaultSeccompProfile('riscv64');
  assert.deepEqual(other.architectures, []);
  assert.equal(other.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(verdict(other, 'read'), 'allow');
});
