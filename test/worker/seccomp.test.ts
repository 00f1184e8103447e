// The seccomp allowlist in real runc containers of the worker (busybox root plus a static
// probe compiled from seccomp-probe.c with the system gcc): the errno the profile sets for
// AF_VSOCK and AF_ALG sockets, odd personas, fanotify_init, kexec_load, a syscall newer
// than the list, namespaces and the 32-bit x86 socketcall path; what must keep working
// (ordinary sockets, fork, the usual personas, busybox). The calls the host may make
// safely also run on the host, outside any profile, to show the errno there differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { arch } from 'node:os';
import { join } from 'node:path';
import { startTestWorker, collectRun, HAVE_RUNTIME } from './fixtures.js';
import { REPO_ROOT } from '../helpers/tmp.js';

const run = promisify(execFile);
const EPERM = 1, ENOSYS = 38;
const X64 = arch() === 'x64';

function haveGcc(): boolean {
  try { execFileSync('gcc', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}
const skip = !HAVE_RUNTIME ? 'needs root and busybox' : !haveGcc() ? 'needs gcc and libc6-dev (gcc -static)' : false;

/** Probes whose effect ends with the probe process: these also run on the host. */
const HOST_SAFE = ['vsock', 'persona_read_implies_exec', 'persona_bsd', 'fanotify_init', 'lsm_list_modules', 'clone3', ...(X64 ? ['compat_socketcall_vsock'] : [])];

let inContainer: Record<string, string> = {};
let onHost: Record<string, string> = {};

function parse(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

/** Asserts the container's result for probe `name` is one of `errnos`, and differs from the host's (no profile there). */
function refused(name: string, ...errnos: number[]): void {
  const got = inContainer[name];
  assert.ok(errnos.map(String).includes(got!), `${name}: errno ${got} in the container, expected ${errnos.join(' or ')}`);
  // ENOSYS on the host: this kernel lacks the call, so there is nothing to compare.
  if (onHost[name] !== undefined && onHost[name] !== String(ENOSYS)) assert.notEqual(onHost[name], got, `${name}: same result on the host without the profile`);
}

test('the seccomp allowlist in a runc container', { skip, timeout: 300_000 }, async (t) => {
  const w = await startTestWorker(t);
  const probe = join(w.dir, 'seccomp-probe');
  // Static and non-PIE: the rootfs has no libc, and int $0x80 needs addresses below 4 GiB.
  await run('gcc', ['-static', '-no-pie', '-O1', '-o', probe, join(REPO_ROOT, 'test/worker/seccomp-probe.c')]);
  onHost = parse((await run(probe, HOST_SAFE)).stdout);
  await copyFile(probe, join(w.rootfs, 'bin', 'seccomp-probe'));
  const r = await collectRun(w.client(), { image: 'busybox', command: ['/bin/seccomp-probe'] });
  assert.equal(r.exit, 0, r.stderr);
  inContainer = parse(r.stdout);
  const busybox = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'ls /bin | grep -c . && cat /etc/passwd | head -n 1 && echo "$((6 * 7))"'] });

  await t.test('AF_VSOCK and AF_ALG sockets fail with the profile\'s EPERM; inet and unix sockets work', () => {
    refused('vsock', EPERM);
    assert.equal(inContainer.alg, String(EPERM), 'socket(AF_ALG)');
    assert.equal(inContainer.inet, '0');
    assert.equal(inContainer.unix, '0');
  });

  await t.test('personality: odd personas refused, the query and PER_LINUX allowed', () => {
    refused('persona_read_implies_exec', EPERM);
    refused('persona_bsd', EPERM);
    assert.equal(inContainer.persona_query, '0');
    assert.equal(inContainer.persona_linux, '0');
  });

  await t.test('fanotify_init, kexec_load and a syscall newer than the list are refused', () => {
    refused('fanotify_init', EPERM);
    assert.equal(inContainer.kexec_load, String(EPERM));
    // lsm_list_modules (460, Linux 6.8) is in no rule. runc answers ENOSYS above the highest
    // syscall of the profile its libseccomp knows, EPERM below it: either is the profile's.
    refused('lsm_list_modules', EPERM, ENOSYS);
  });

  await t.test('namespaces: clone with CLONE_NEW* and unshare refused, clone3 ENOSYS; plain clone works', () => {
    assert.equal(inContainer.clone_newns, String(EPERM));
    assert.equal(inContainer.clone_newuser, String(EPERM));
    assert.equal(inContainer.unshare_user, String(EPERM));
    assert.equal(inContainer.ptrace, String(EPERM));
    refused('clone3', ENOSYS);
    assert.equal(inContainer.clone_plain, '0');
  });

  await t.test('32-bit x86: syscalls work, but neither socket nor socketcall creates an AF_VSOCK socket', { skip: X64 ? false : 'x86_64 only' }, () => {
    assert.equal(inContainer.compat_getpid, '0');
    assert.equal(inContainer.compat_socket_inet, '0');
    assert.equal(inContainer.compat_socket_vsock, String(EPERM));
    // libseccomp allows socketcall(SYS_SOCKET) for any family on i386: the profile answers
    // ENOSYS to all of socketcall instead.
    refused('compat_socketcall_vsock', ENOSYS);
    assert.equal(inContainer.compat_socketcall_inet, String(ENOSYS));
  });

  await t.test('ordinary programs still work under the profile: busybox sh, ls, cat, arithmetic', () => {
    assert.equal(busybox.exit, 0, busybox.stderr);
    const [count, passwd, answer] = busybox.stdout.trim().split('\n');
    assert.ok(Number(count) > 10, busybox.stdout);
    assert.equal(passwd, 'root:x:0:0:root:/root:/bin/sh');
    assert.equal(answer, '42');
  });
});
