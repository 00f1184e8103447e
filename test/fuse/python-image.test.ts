// A real distribution through the mount: the python3+scipy base rootfs (the tarball of
// scripts/ensure-base-image.sh) served lazily by a blob server, an overlay on top, and
// python3 importing numpy and scipy in a chroot of it. Checks that a real program's
// exec, mmap of shared libraries and import probing all work, and that only the blobs
// actually used are fetched. Skipped when the tarball is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { BlobServer } from './blob-server.js';
import { MountHelper } from './helper-client.js';
import { fuseAvailable, manifestFromTree } from './fixtures.js';
import { runChild } from './run-child.js';

const TARBALL = [process.env.SWAY_BASE_TARBALL, '/var/cache/sway-test/python-base-bookworm.tar'].find((p) => !!p && existsSync(p));
const skip = !fuseAvailable() ? 'needs root and /dev/fuse' : !TARBALL ? 'python base rootfs tarball not built (scripts/ensure-base-image.sh)' : false;

test('python3 imports numpy and scipy from the lazily served base image (chroot on an overlay)', { skip, timeout: 600_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-fuse-py-');
  const [rootfs, store, mnt, cache, upper, work, merged] = ['rootfs', 'store', 'mnt', 'cache', 'upper', 'work', 'merged'].map((n) => join(dir, n)) as [string, string, string, string, string, string, string];
  await Promise.all([rootfs, store, mnt, upper, work, merged].map((d) => mkdir(d)));
  const untar = await runChild(['tar', '-xf', TARBALL!, '-C', rootfs, '--numeric-owner', '--xattrs', '--xattrs-include=*'], 300_000);
  assert.equal(untar.code, 0, untar.stderr);
  const { manifest } = await manifestFromTree(rootfs, store, { linkBlobs: true });
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(manifest));
  const server = new BlobServer(store);
  await server.start();
  t.after(() => server.close());
  const helper = await MountHelper.start(dir, { mountpoint: mnt, cacheDir: cache, serverUrl: server.url, images: [{ id: 'pybase', manifestFile }] });
  t.after(() => helper.stop());
  const mounted = await runChild(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${join(mnt, 'pybase')},upperdir=${upper},workdir=${work}`, merged]);
  assert.equal(mounted.code, 0, mounted.stderr);
  t.after(() => runChild(['umount', '-l', merged]));
  const py = await runChild(['chroot', merged, '/usr/bin/python3', '-c', 'import numpy, scipy.linalg; print(numpy.linalg.det(numpy.eye(3)), scipy.__version__)'], 300_000);
  assert.equal(py.code, 0, py.stderr);
  assert.match(py.stdout, /^1\.0 \d+\.\d+/);
  const stats = await helper.stats('pybase');
  const blobs = new Set(manifest.entries.filter((e) => e.type === 'file' && e.size > 0).map((e) => e.hash)).size;
  assert.equal(stats.eios, 0);
  assert.ok(stats.serverFetches! > 0 && stats.serverFetches! < blobs / 2, `fetched ${stats.serverFetches} of ${blobs} blobs: lazily`);
  assert.ok(stats.negativeLookups! > 0, 'import probing hit absent names');
  t.diagnostic(`fetched ${stats.serverFetches} of ${blobs} blobs (${(stats.bytesFetched! / 1e6).toFixed(1)} MB), ${stats.negativeLookups} negative lookups, ${stats.lookups} lookups`);
});
