// The mounted image is exactly the image: whole-tree comparison with the source, the
// standard dirs, negative lookups without fetches, one fetch for many readers, 64
// parallel readers, cached files with the server down, and an overlay on top.
// Every access to the mount happens in child processes (python3, cat, sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setupFuseEnv, IMAGE_ID, ALIAS } from './env.js';
import { snapshotTree, fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';
import { STANDARD_DIRS } from '../../ts/worker/fuse/image-columns.js';

const run = promisify(execFile);
const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';

test('the mount presents the image tree exactly (types, modes, owners, sizes, contents, links, xattrs)', { skip, timeout: 180_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const source = await snapshotTree(env.source.root);
  const mounted = await snapshotTree(env.imageRoot);
  let added = 0;
  for (const name of Object.keys(STANDARD_DIRS)) {
    if (!(name in source)) {
      assert.equal(mounted[name]?.type, 'd', `standard dir ${name} exists`);
      delete mounted[name];
      added++;
    }
  }
  // The added standard dirs count in the root's link count, as subdirectories do.
  mounted['']!.nlink -= added;
  assert.deepEqual(Object.keys(mounted).sort(), Object.keys(source).sort());
  for (const [path, want] of Object.entries(source)) {
    const got = mounted[path]!;
    const { ino: _a, ...w } = want;
    const { ino: _b, ...g } = got;
    assert.deepEqual(g, w, `entry ${JSON.stringify(path)}`);
  }
  // Hard links share one inode through the mount; distinct files do not.
  assert.equal(mounted[env.source.files.hardA]!.ino, mounted[env.source.files.hardB]!.ino);
  assert.notEqual(mounted[env.source.files.hardA]!.ino, mounted[env.source.files.setuid]!.ino);
  // The alias directory is the same tree.
  const { stdout } = await run('cat', [join(env.mountpoint, ALIAS, 'etc/hostname')]);
  assert.equal(stdout, 'sway-test\n');
  const stats = await env.helper.stats(IMAGE_ID);
  assert.ok(stats.serverFetches! > 0, 'contents came from the server');
  assert.equal(stats.eios, 0);
});

test('absent names are answered from the manifest, cached by the kernel, and never fetched', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const probes = Array.from({ length: 200 }, (_, i) => `usr/lib/python3/nothere_${i}.py`);
  const script = 'import os,sys\nfor p in sys.argv[2:]:\n  assert not os.path.exists(os.path.join(sys.argv[1], p))\n';
  const before = env.server.total();
  const first = await runChild(['python3', '-c', script, env.imageRoot, ...probes]);
  assert.equal(first.code, 0, first.stderr);
  const afterFirst = await env.helper.stats(IMAGE_ID);
  assert.ok(afterFirst.negativeLookups! >= 1, 'negative lookups counted');
  const second = await runChild(['python3', '-c', script, env.imageRoot, ...probes]);
  assert.equal(second.code, 0, second.stderr);
  const afterSecond = await env.helper.stats(IMAGE_ID);
  // The kernel kept the negative entries: the second pass barely reaches the filesystem.
  assert.ok(afterSecond.negativeLookups! - afterFirst.negativeLookups! < probes.length / 2,
    `second pass looked up ${afterSecond.negativeLookups! - afterFirst.negativeLookups!} absent names again`);
  assert.equal(env.server.total(), before, 'no fetch for absent names');
  // Not a directory / absent at the mount root.
  const bad = await runChild(['cat', join(env.mountpoint, 'no-such-image/etc/hostname')]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /No such file/);
});

test('64 concurrent readers of one missing blob cause one fetch; 64 readers of different files all get the right bytes', { skip, timeout: 180_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const big = env.hashes.get(env.source.files.big)!;
  env.server.mode = 'gate';
  const arrived = env.server.nextRequest();
  const same = Array.from({ length: 64 }, () => runChild(['sha256sum', join(env.imageRoot, env.source.files.big)]));
  await arrived;
  env.server.mode = 'ok';
  env.server.releaseGate();
  for (const r of await Promise.all(same)) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], big.hash);
  }
  assert.equal(env.server.count(big.hash), 1, 'one fetch for all readers');
  const files = env.source.files.small.slice(0, 64);
  const different = await Promise.all(files.map((f) => runChild(['sha256sum', join(env.imageRoot, f)])));
  different.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], env.hashes.get(files[i]!)!.hash, files[i]);
  });
  const stats = await env.helper.stats(IMAGE_ID);
  assert.equal(stats.eios, 0);
  assert.equal(stats.serverFetches, 1 + files.length);
  const fetchedBytes = big.size + files.reduce((n, f) => n + env.hashes.get(f)!.size, 0);
  assert.equal(stats.bytesFetched, fetchedBytes);
  assert.ok(stats.fetchLatencyMaxMs! > 0 && stats.fetchLatencyTotalMs! >= stats.fetchLatencyMaxMs!);
});

test('the mount works as the lower layer of an overlay (reads, setuid bits, writes go to the upper dir)', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const upper = join(env.dir, 'upper');
  const work = join(env.dir, 'work');
  const merged = join(env.dir, 'merged');
  await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
  const mounted = await runChild(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${env.imageRoot},upperdir=${upper},workdir=${work}`, merged]);
  assert.equal(mounted.code, 0, mounted.stderr);
  t.after(() => runChild(['umount', '-l', merged]));
  const read = await runChild(['cat', join(merged, 'etc/hostname')]);
  assert.equal(read.stdout, 'sway-test\n');
  const st = await runChild(['stat', '-c', '%a %u %g %s', join(merged, env.source.files.setuid), join(merged, 'var/weird')]);
  assert.equal(st.stdout, '4755 0 0 200000\n2751 4242 4343 999\n');
  const write = await runChild(['sh', '-c', `echo changed > ${join(merged, 'etc/hostname')} && cat ${join(merged, 'etc/hostname')}`]);
  assert.equal(write.code, 0, write.stderr);
  assert.equal(write.stdout, 'changed\n');
  const lower = await runChild(['cat', join(env.imageRoot, 'etc/hostname')]);
  assert.equal(lower.stdout, 'sway-test\n', 'the image itself is unchanged');
  const refused = await runChild(['sh', '-c', `echo x > ${join(env.imageRoot, 'etc/new')}`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Read-only file system/);
});

test('images load and unload while mounted; each has its own counters', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  await env.helper.command({ cmd: 'load', id: 'second', manifestFile: env.manifestFile, aliases: ['second-alias'] });
  const listing = await runChild(['ls', '-1', env.mountpoint]);
  assert.deepEqual(listing.stdout.trim().split('\n').sort(), [ALIAS, IMAGE_ID, 'second', 'second-alias'].sort());
  assert.equal((await runChild(['cat', join(env.mountpoint, 'second-alias/etc/hostname')])).stdout, 'sway-test\n');
  await env.helper.command({ cmd: 'unload', id: IMAGE_ID });
  const gone = await runChild(['stat', join(env.mountpoint, IMAGE_ID)]);
  assert.notEqual(gone.code, 0, 'unloaded image is gone');
  const goneAlias = await runChild(['stat', join(env.mountpoint, ALIAS)]);
  assert.notEqual(goneAlias.code, 0, 'and so is its alias');
  assert.equal((await runChild(['cat', join(env.mountpoint, 'second/etc/passwd')])).code, 0);
  const second = await env.helper.stats('second');
  assert.ok(second.lookups! > 0);
  const total = await env.helper.stats();
  assert.ok(total.lookups! >= second.lookups!);
  await assert.rejects(env.helper.command({ cmd: 'stats', id: IMAGE_ID }), /not loaded/);
  // The same id can be loaded again.
  await env.helper.command({ cmd: 'load', id: IMAGE_ID, manifestFile: env.manifestFile });
  assert.equal((await runChild(['cat', join(env.imageRoot, 'etc/hostname')])).stdout, 'sway-test\n');
});
