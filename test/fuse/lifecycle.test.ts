// Lifecycle: unmount with an open parked on a fetch (answered with an error, threads
// joined, mount gone); a mount left by a crashed process (SIGKILL) is cleared at the
// next mount, which reuses the disk cache; Node exiting without unmount() unmounts; the
// session's threads carry their own name (top -H, perf), Node's keep theirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setupFuseEnv, IMAGE_ID } from './env.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';

function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);
}

test('unmount answers opens waiting for a fetch with an error and leaves no mount', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t, { fetchTimeoutMs: 60_000 });
  env.server.mode = 'hang';
  const arrived = env.server.nextRequest();
  const reader = runChild(['cat', join(env.imageRoot, env.source.files.big)], 90_000);
  await arrived; // the open is parked in native code, its fetch hanging
  const helper = env.helper;
  const answer = await helper.command<{ unmounted: boolean }>({ cmd: 'unmount' });
  assert.equal(answer.unmounted, true);
  assert.equal(await helper.exited, 0);
  const r = await reader;
  assert.equal(r.signal, null, 'the reader was answered, not left hanging');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Input\/output error|Transport endpoint|No such device/);
  assert.equal(isMounted(env.mountpoint), false);
});

test('a stale mount left by a crash is cleared at the next mount, and the disk cache is reused', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const file = join(env.imageRoot, env.source.files.small[0]!);
  const want = env.hashes.get(env.source.files.small[0]!)!.hash;
  assert.equal((await runChild(['sha256sum', file])).stdout.split(' ')[0], want);
  await env.helper.kill();
  const stale = await runChild(['stat', env.mountpoint]);
  assert.match(stale.stderr, /Transport endpoint is not connected/);
  const helper = await env.restart();
  const again = await runChild(['sha256sum', file]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.split(' ')[0], want);
  const stats = await helper.stats(IMAGE_ID);
  assert.equal(stats.serverFetches, 0, 'served from the disk cache kept across the crash');
  assert.equal(stats.diskHits, 1);
});

test('a Node process that exits without unmount() still unmounts (env cleanup hook)', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  assert.equal(isMounted(env.mountpoint), true);
  env.helper.child.stdin!.write(JSON.stringify({ cmd: 'exit' }) + '\n');
  assert.equal(await env.helper.exited, 0);
  assert.equal(isMounted(env.mountpoint), false);
});

test('the FUSE session threads are named sway-fuse; the process\'s main thread keeps its name', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  // A read, so that libfuse has started workers (it starts them as requests come).
  const file = join(env.imageRoot, env.source.files.small[0]!);
  assert.equal((await runChild(['sha256sum', file])).stdout.split(' ')[0], env.hashes.get(env.source.files.small[0]!)!.hash);
  const pid = env.helper.child.pid!;
  const names = readdirSync(`/proc/${pid}/task`).map((tid) => readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim());
  assert.ok(names.filter((n) => n === 'sway-fuse').length >= 2, `the loop thread and at least one worker: ${names.join(', ')}`);
  assert.equal(readFileSync(`/proc/${pid}/task/${pid}/comm`, 'utf8').trim(), 'node');
});
