// The "files the app opens" yardstick (bench/lib/opened-files.ts): strace lines are parsed
// into successful opens and execs only (not failed ones, not directories), and paths resolve inside
// the rootfs, through relative and absolute symlinks, never on the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { openedFilesIn, openedPaths, resolveInRootfs } from '../../bench/lib/opened-files.js';

test('openedPaths keeps successful opens of non-directories and successful execs', () => {
  const trace = [
    '101 openat(AT_FDCWD, "/usr/lib/python3.11/os.py", O_RDONLY|O_CLOEXEC) = 3',
    '101 openat(AT_FDCWD, "/usr/lib/python3.11/missing.py", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
    '101 openat(AT_FDCWD, "/usr/lib/python3.11", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 4',
    '102 open("/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 5',
    '101 openat(AT_FDCWD, "app.py", O_RDONLY) = 3',
    '103 execve("/usr/local/bin/python3", ["python3", "app.py"], 0x7ffd7a1b9e38 /* 5 vars */) = -1 ENOENT (No such file or directory)',
    '103 execve("/usr/bin/python3", ["python3", "app.py"], 0x7ffd7a1b9e38 /* 5 vars */) = 0',
    '101 +++ exited with 0 +++',
  ].join('\n');
  assert.deepEqual(openedPaths(trace), ['/usr/lib/python3.11/os.py', '/etc/ld.so.cache', 'app.py', '/usr/bin/python3']);
});

test('paths resolve inside the rootfs through symlinks; sizes are summed once per file', async (t) => {
  const rootfs = await makeTempDir(t, 'opened-files-');
  mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
  mkdirSync(join(rootfs, 'app'));
  writeFileSync(join(rootfs, 'usr/lib/libx.so.1'), Buffer.alloc(1000));
  writeFileSync(join(rootfs, 'app/app.py'), 'print(1)\n');
  symlinkSync('usr/lib', join(rootfs, 'lib'));
  symlinkSync('/usr/lib/libx.so.1', join(rootfs, 'usr/lib/libx.so'));
  assert.equal(resolveInRootfs(rootfs, '/lib/libx.so'), '/usr/lib/libx.so.1');
  assert.equal(resolveInRootfs(rootfs, 'app.py', '/app'), '/app/app.py');
  assert.equal(resolveInRootfs(rootfs, '/etc/passwd'), undefined, 'a host file is not in the rootfs');
  const trace = join(await makeTempDir(t, 'opened-files-trace-'), 'open.strace');
  writeFileSync(trace, [
    '1 openat(AT_FDCWD, "/lib/libx.so", O_RDONLY) = 3',
    '1 openat(AT_FDCWD, "/usr/lib/libx.so.1", O_RDONLY) = 3',
    '1 openat(AT_FDCWD, "app.py", O_RDONLY) = 3',
    '1 openat(AT_FDCWD, "/proc/self/status", O_RDONLY) = 3',
  ].join('\n'));
  const found = openedFilesIn(rootfs, trace, '/app');
  assert.deepEqual(found.paths, ['/app/app.py', '/usr/lib/libx.so.1']);
  assert.equal(found.bytes, 1000 + 9);
});
