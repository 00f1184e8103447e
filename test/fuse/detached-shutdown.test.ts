// A mount helper whose mount someone else detached (an operator's `umount -l`, a test's
// cleanup) must not, when it shuts down later, abort the FUSE connection that now owns
// its old device minor. Once the detached superblock dies, the kernel frees the minor
// (and aborts the old connection itself), and the next FUSE mount on the machine is
// usually given the same minor; aborting "our" minor by number would kill that mount.
// The test arranges exactly that reuse (new mounts take the lowest free minor; if another
// process takes it first, it tries again, and skips, saying so, if it never can).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setupFuseEnv, type FuseEnv } from './env.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const ATTEMPTS = 5;

/** The device (major:minor) of the mount at `path`, from /proc/self/mountinfo. */
function deviceOf(path: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === path) return f[2];
  }
  return undefined;
}

test('shutting down after someone else detached the mount leaves the mount that reused its minor alone', { skip, timeout: 300_000 }, async (t) => {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const first: FuseEnv = await setupFuseEnv(t);
    const device = deviceOf(first.mountpoint);
    assert.ok(device, 'the first mount is listed');
    execFileSync('umount', ['-l', first.mountpoint]); // someone else detaches it
    const second: FuseEnv = await setupFuseEnv(t);
    if (deviceOf(second.mountpoint) !== device) continue; // another mount took the minor: again

    const file = join(second.imageRoot, second.source.files.small[0]!);
    const before = await runChild(['cat', file], 30_000);
    assert.equal(before.code, 0, before.stderr);
    const answer = await first.helper.command<{ unmounted: boolean }>({ cmd: 'unmount' });
    assert.equal(answer.unmounted, true);
    assert.equal(await first.helper.exited, 0);

    const probe = await runChild(['stat', '-f', '-c', '%T', second.mountpoint], 30_000);
    assert.equal(probe.code, 0, `the mount that reused minor ${device} was aborted: ${probe.stderr}`);
    const after = await runChild(['cat', join(second.imageRoot, second.source.files.big)], 60_000);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout.length > 0, true);
    return;
  }
  t.skip(`could not arrange the reuse of a device minor in ${ATTEMPTS} attempts (other mounts took it)`);
});
