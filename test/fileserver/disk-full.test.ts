// Disk full on the fileserver: a small tmpfs as its data directory. Uploads that do not
// fit fail with 507 and a clear message, nothing half-written remains, reads go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture, listFiles } from './fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import type { RemoteError } from '../../ts/common/errors.js';

test('uploads that do not fit answer 507, leave nothing behind, and reads keep working', async (t) => {
  const dir = await makeTempDir(t, 'sway-fs-full-');
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) { t.skip(`cannot mount a tmpfs here (needs root): ${mount.stderr.trim()}`); return; }
  t.after(() => { spawnSync('umount', ['-l', dir]); });
  const f = await startFixture(t, { dataDir: dir });

  const small = randomBytes(100 * 1024);
  await f.alice.putBlob(sha256(small), small, small.length);
  const before = listFiles(join(dir, 'blobs'));

  const big = randomBytes(8 * 1024 * 1024);
  const err = await f.alice.putBlob(sha256(big), big, big.length).then(() => undefined, (e: RemoteError) => e);
  assert.ok(err, 'the oversized upload must fail');
  assert.equal(err.status, 507);
  assert.equal(err.remoteCode, 'SWAY_DISK_FULL');
  assert.match(err.message, /out of disk space/);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
  assert.deepEqual(listFiles(join(dir, 'blobs')), before);

  // Batch too: 507, nothing of it stored.
  const files = Array.from({ length: 8 }, (_, i) => { const c = randomBytes(1024 * 1024); return { key: `f${i}`, hash: sha256(c), size: c.length, open: () => c }; });
  const berr = await f.alice.batchUpload(files).then(() => undefined, (e: RemoteError) => e);
  assert.equal(berr?.status, 507);
  assert.deepEqual(listFiles(join(dir, 'blobs')), before);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);

  // Reads still work, and so do uploads that fit once space is there.
  const res = await f.alice.http.request(`/v1/blobs/${sha256(small)}`);
  assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), small);
  const another = randomBytes(10 * 1024);
  await f.alice.putBlob(sha256(another), another, another.length);
});
