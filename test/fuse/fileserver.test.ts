// End to end with the real fileserver: blobs uploaded by a user, fetched by the mount
// over HTTPS with a worker token through FileserverBlobFetcher (FileserverClient,
// hash-verified, renamed into the cache only on a match), tree compared with the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture } from '../fileserver/fixture.js';
import { fanoutPath } from '../../ts/common/hash.js';
import { makeSourceTree, manifestFromTree, snapshotTree, fuseAvailable } from './fixtures.js';
import { MountHelper } from './helper-client.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';

test('an image whose blobs live on a real fileserver reads back exactly through the mount', { skip, timeout: 180_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-fuse-fs-');
  const [src, store, mnt, cache] = ['src', 'store', 'mnt', 'cache'].map((n) => join(dir, n)) as [string, string, string, string];
  await Promise.all([mkdir(src), mkdir(store), mkdir(mnt)]);
  await makeSourceTree(src, { bigBytes: 2 * 1024 * 1024 });
  const { manifest } = await manifestFromTree(src, store);
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    const content = await readFile(join(store, fanoutPath(e.hash!)));
    await fx.alice.putBlob(e.hash!, content, content.length);
  }
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(manifest));
  const helper = await MountHelper.start(dir, {
    mountpoint: mnt, cacheDir: cache, serverUrl: 'unused',
    fileserver: { url: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath },
    images: [{ id: 'fsimage', manifestFile }],
  });
  t.after(() => helper.stop());
  const want = await snapshotTree(src);
  const got = await snapshotTree(join(mnt, 'fsimage'));
  for (const [path, w] of Object.entries(want)) {
    if (w.type !== 'f') continue;
    assert.equal(got[path]?.sha256, w.sha256, path);
    assert.equal(got[path]?.mode, w.mode, path);
  }
  const stats = await helper.stats('fsimage');
  assert.equal(stats.eios, 0);
  assert.equal(stats.serverFetches, new Set(manifest.entries.filter((e) => e.type === 'file' && e.size > 0).map((e) => e.hash)).size);
});
