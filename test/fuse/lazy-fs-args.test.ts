// LazyFilesystem validates its arguments and fails with precise errors (the native layer
// trusts its input). This process mounts but never touches the mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { LazyFilesystem } from '../../ts/worker/fuse/lazy-fs.js';
import type { BlobFetcher } from '../../ts/worker/fuse/blob-fetcher.js';
import { emptyImageConfig, type Manifest } from '../../ts/common/manifest.js';
import { fuseAvailable } from './fixtures.js';

const fetcher: BlobFetcher = { fetch: () => Promise.reject(new Error('not used')) };
const manifest: Manifest = {
  version: 1, config: emptyImageConfig(),
  entries: [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }],
};

test('mount options are checked before anything is mounted', async (t) => {
  const dir = await makeTempDir(t, 'sway-fuse-args-');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  await assert.rejects(LazyFilesystem.mount({ mountpoint: 'relative', cacheDir: join(dir, 'c'), fetcher }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(mnt, 'cache'), fetcher }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(dir, 'c'), fetcher, threads: 0 }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(dir, 'c'), fetcher, noOpen: 'yes' as unknown as boolean }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(dir, 'c'), fetcher, retries: -1 }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(dir, 'c'), fetcher: {} as BlobFetcher }), { code: 'SWAY_USAGE' });
  await assert.rejects(LazyFilesystem.mount({ mountpoint: join(dir, 'absent'), cacheDir: join(dir, 'c'), fetcher }), { code: 'SWAY_FUSE_MOUNT' });
});

test('image names are checked and unique; a closed filesystem refuses use', { skip: fuseAvailable() ? false : 'needs root and /dev/fuse' }, async (t) => {
  const dir = await makeTempDir(t, 'sway-fuse-args-');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const fs = await LazyFilesystem.mount({ mountpoint: mnt, cacheDir: join(dir, 'cache'), fetcher });
  t.after(() => fs.unmount());
  fs.loadImage('abc', manifest, ['alias']);
  assert.throws(() => fs.loadImage('abc', manifest), { code: 'SWAY_USAGE' });
  assert.throws(() => fs.loadImage('other', manifest, ['alias']), { code: 'SWAY_USAGE' });
  assert.throws(() => fs.loadImage('a/b', manifest), { code: 'SWAY_USAGE' });
  assert.throws(() => fs.loadImage('..', manifest), { code: 'SWAY_USAGE' });
  assert.throws(() => fs.loadImage('x', { ...manifest, entries: [] }), { code: 'SWAY_IMAGE_FORMAT' });
  assert.equal(fs.imageRoot('alias'), join(mnt, 'alias'));
  assert.throws(() => fs.imageRoot('nope'), { code: 'SWAY_NOT_FOUND' });
  assert.throws(() => fs.unloadImage('nope'), { code: 'SWAY_NOT_FOUND' });
  assert.equal(fs.stats('abc').lookups, 0);
  fs.unloadImage('abc');
  await fs.unmount();
  await fs.unmount(); // idempotent
  assert.throws(() => fs.loadImage('abc', manifest), { code: 'SWAY_FUSE_CLOSED' });
});
