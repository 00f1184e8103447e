// Inside a container of the python base image (extracted to a plain directory; the
// runner and config are the production ones): the syscalls Docker refuses fail with
// EPERM (keyctl, bpf, io_uring, mount, unshare of a user namespace, ptrace, kexec),
// /dev/fuse is absent, the worker's files are not reachable, a memory hog dies inside
// its limit while a neighbour run finishes normally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { arch } from 'node:os';
import { join } from 'node:path';
import { startTestWorker, collectRun, HAVE_RUNTIME, HAVE_RUNSC } from './fixtures.js';
import { readFile } from 'node:fs/promises';
import { REPO_ROOT } from '../helpers/tmp.js';

const TARBALL = process.env.SWAY_BASE_TARBALL ?? '/var/cache/sway-test/python-base-bookworm.tar';
const skip = !HAVE_RUNTIME ? 'needs root' : !existsSync(TARBALL) ? `needs the base image tarball ${TARBALL}` : arch() !== 'x64' ? 'syscall numbers are x86_64' : false;

const PROBE = `
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 0 if r >= 0 else ctypes.get_errno()
out = {
  'keyctl': sc(250, 0, 0, 0, 0, 0),
  'bpf': sc(321, 0, 0, 0),
  'io_uring_setup': sc(425, 1, 0),
  'mount': sc(165, 0, 0, 0, 0, 0),
  'unshare_user': sc(272, 0x10000000),
  'unshare_ns': sc(272, 0x00020000),
  'ptrace_attach': sc(101, 16, os.getppid() or 1, 0, 0),
  'kexec_load': sc(246, 0, 0, 0, 0),
  'perf_event_open': sc(298, 0, 0, -1, -1, 0),
  'open_by_handle_at': sc(304, 0, 0, 0),
  'dev_fuse': os.path.exists('/dev/fuse'),
  'fds': sorted(os.listdir('/proc/self/fd')),
  'uid': os.getuid(),
}
print(json.dumps(out))
`;

test('in a container: Docker-refused syscalls fail with EPERM, no /dev/fuse, a memory hog stays in its limit', { skip, timeout: 600_000 }, async (t) => {
  const images = { py: { dir: '', config: { workingDir: '/', cmd: ['python3', 'main.py'] } } };
  const w = await startTestWorker(t, { images: () => images });
  // The provider reads the directory only when a run asks for the image: fill it in now.
  const rootfs = images.py.dir = join(w.dir, 'py');
  await mkdir(rootfs);
  await promisify(execFile)('tar', ['-xf', TARBALL, '-C', rootfs, '--numeric-owner']);

  const probe = w.addScript(PROBE);
  const r = await collectRun(w.client(), { image: 'py', script: { hash: probe.hash, name: 'probe.py' } });
  assert.equal(r.exit, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const name of ['keyctl', 'bpf', 'io_uring_setup', 'mount', 'unshare_user', 'unshare_ns', 'ptrace_attach', 'kexec_load', 'perf_event_open', 'open_by_handle_at']) {
    assert.equal(out[name], 1, `${name} must fail with EPERM, got errno ${String(out[name])}`);
  }
  assert.equal(out.dev_fuse, false);
  // 0-2 and the directory being listed: nothing of the worker's.
  assert.deepEqual(out.fds, ['0', '1', '2', '3']);

  const hog = w.addScript('x = bytearray(512 * 1024 * 1024)\nprint("survived")\n');
  const neighbour = w.addScript('print(sum(range(1000)))\n');
  const [h, n] = await Promise.all([
    collectRun(w.client(), { image: 'py', script: { hash: hog.hash, name: 'hog.py' }, limits: { memoryMb: 128 } }),
    collectRun(w.client(), { image: 'py', script: { hash: neighbour.hash, name: 'n.py' } }),
  ]);
  assert.equal(h.exit, 128 + 9, `the hog is OOM-killed: ${h.stdout} ${h.stderr}`);
  assert.doesNotMatch(h.stdout, /survived/);
  assert.equal(n.exit, 0, n.stderr);
  assert.equal(n.stdout, '499500\n');
});

test('the quick-start scipy app runs under gVisor (--runtime runsc)', { skip: skip || (HAVE_RUNSC ? false : 'needs runsc (Debian package runsc)'), timeout: 600_000 }, async (t) => {
  const images = { py: { dir: '', config: { workingDir: '/app', cmd: ['python3', 'app.py'] } } };
  const w = await startTestWorker(t, { images: () => images, runtime: 'runsc' });
  const rootfs = images.py.dir = join(w.dir, 'py');
  await mkdir(rootfs);
  await promisify(execFile)('tar', ['-xf', TARBALL, '-C', rootfs, '--numeric-owner']);
  const app = w.addScript((await readFile(join(REPO_ROOT, 'examples/quickstart/app.py'))).toString());
  const r = await collectRun(w.client(), { image: 'py', script: { hash: app.hash, name: 'app.py' }, command: undefined });
  assert.equal(r.exit, 0, r.stderr);
  assert.equal(r.stdout, 'svd: u=(100, 100), s=(100,)\n');
  const kernel = await collectRun(w.client(), { image: 'py', command: ['sh', '-c', 'dmesg | head -n 1'] });
  assert.match(kernel.stdout, /gVisor/);
});
