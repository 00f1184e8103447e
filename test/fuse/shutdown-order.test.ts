// Regression test for the shutdown order of the native layer: abort the FUSE connection
// FIRST, then lazily detach the mount. Aborting while the mount still exists targets a
// connection that is certainly ours; the old order (detach, then abort by device minor)
// could, once the detached superblock died and its minor was reused, abort a neighbour's
// connection. The test holds the helper's shutdown between its two steps (the native
// test hook SWAY_FUSE_TEST_SHUTDOWN_PAUSE_MS, read only by the mount helpers this file
// starts) and checks from outside that the connection is seen aborted while the mount is
// still listed; with the old order the mount is gone before any abort, and it fails.
// It also checks the user-visible contract of unmount with readers parked on a blob that
// never arrives: they get an error, unmount answers within a bound, the helper exits 0,
// no mount is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupFuseEnv } from './env.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const PAUSE_MS = 3000;
// Generous correctness bound (pause + thread join), not a speed target.
const UNMOUNT_BOUND_MS = 30_000;

function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);
}

test('unmount aborts the connection before detaching: parked readers get an error, the mount goes, the helper exits', { skip, timeout: 120_000 }, async (t) => {
  // Inherited by the mount helpers this test process spawns (one process per test file).
  process.env.SWAY_FUSE_TEST_SHUTDOWN_PAUSE_MS = String(PAUSE_MS);
  const env = await setupFuseEnv(t, { fetchTimeoutMs: 60_000 });
  env.server.mode = 'hang'; // the blob never arrives
  const arrived = env.server.nextRequest();
  const big = join(env.imageRoot, env.source.files.big);
  const readers = Array.from({ length: 4 }, () => runChild(['cat', big], 90_000));
  await arrived; // the opens are parked in native code, their fetch hanging

  const started = Date.now();
  let answered = false;
  const unmount = env.helper.command<{ unmounted: boolean }>({ cmd: 'unmount' }).finally(() => { answered = true; });

  // Watch the mount from a child process: statfs fails with ENOTCONN once the
  // connection is aborted. Record whether the mount was still listed at that moment.
  let abortedWhileMounted = false;
  let detachedBeforeAbort = false;
  while (!answered) {
    const mountedBefore = isMounted(env.mountpoint);
    const probe = await runChild(['stat', '-f', '-c', '%T', env.mountpoint], 10_000);
    const aborted = probe.code !== 0 && /Transport endpoint is not connected/.test(probe.stderr);
    if (aborted && mountedBefore && isMounted(env.mountpoint)) { abortedWhileMounted = true; break; }
    if (!mountedBefore) { detachedBeforeAbort = true; break; }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(detachedBeforeAbort, false, 'the mount was detached before its connection was aborted');
  assert.equal(abortedWhileMounted, true, 'the connection was never seen aborted while still mounted');

  const answer = await unmount;
  assert.equal(answer.unmounted, true);
  assert.ok(Date.now() - started < UNMOUNT_BOUND_MS, `unmount answered after ${Date.now() - started} ms`);
  assert.equal(await env.helper.exited, 0);
  for (const r of await Promise.all(readers)) {
    assert.equal(r.signal, null, 'the reader was answered, not left hanging');
    assert.notEqual(r.code, 0);
    // EIO if its open was parked when shutdown failed the parked opens; ECONNABORTED if
    // the open reached the kernel after that, when the connection abort answered it.
    assert.match(r.stderr, /Input\/output error|Software caused connection abort|Transport endpoint|No such device/);
  }
  assert.equal(isMounted(env.mountpoint), false);
});
