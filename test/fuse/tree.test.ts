// The mounted image is exactly the image: whole-tree comparison with the source, the
// standard dirs, negative lookups without fetches, one fetch for many readers, 64
// parallel readers, cached files with the server down, and an overlay on top.
// Every access to the mount happens in child processes (python3, cat, sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setupFuseEnv, IMAGE_ID, ALIAS } from './env.js';
import { snapshotTree, fuseAvailable } from './fixtures.js';
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
