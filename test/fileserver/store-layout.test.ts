// The local blob store's layout (ts/fileserver/store/local-store.ts): blobs/ab/<hash>
// with all 256 fan-out directories made at init, so storing never creates a directory;
// a data directory of the first layout (blobs/ab/cd/<hash>) is moved over at init and
// every blob stays readable, listed and whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { sha256 } from '../../ts/common/hash.js';
import { LocalBlobStore, blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { listFiles } from './fixture.js';

test('a fresh store has its 256 fan-out directories; a committed batch lands at blobs/ab/<hash> without new directories', async (t) => {
  const root = await makeTempDir(t, 'sway-store-layout-');
  const store = new LocalBlobStore(root);
  await store.init();
  const dirs = readdirSync(join(root, 'blobs')).sort();
  assert.equal(dirs.length, 256);
  assert.deepEqual([dirs[0], dirs[255]], ['00', 'ff']);

  const contents = Array.from({ length: 40 }, () => randomBytes(100));
  const writers = await Promise.all(contents.map((c) => store.stageBuffer(sha256(c), c)));
  await store.commit(writers);
  assert.deepEqual(listFiles(join(root, 'blobs')).sort(), contents.map((c) => blobRelPath(sha256(c))).sort());
  assert.equal(readdirSync(join(root, 'blobs')).length, 256);
  for (const c of contents) assert.ok((await store.readAll(sha256(c), 1000)).equals(c));
});

test('a data directory of the first layout (blobs/ab/cd/<hash>) is moved to blobs/ab/<hash> at init: readable, listed, whole', async (t) => {
  const root = await makeTempDir(t, 'sway-store-legacy-');
  const legacy = Array.from({ length: 5 }, () => randomBytes(3000));
  for (const c of legacy) {
    const h = sha256(c);
    mkdirSync(join(root, 'blobs', h.slice(0, 2), h.slice(2, 4)), { recursive: true });
    writeFileSync(join(root, 'blobs', h.slice(0, 2), h.slice(2, 4), h), c);
  }
  const store = new LocalBlobStore(root);
  await store.init();
  const hashes = legacy.map((c) => sha256(c));
  assert.deepEqual(listFiles(join(root, 'blobs')).sort(), hashes.map(blobRelPath).sort());
  for (const h of hashes) assert.equal(existsSync(join(root, 'blobs', h.slice(0, 2), h.slice(2, 4))), false, 'the old directory is gone');
  const listed: string[] = [];
  for await (const h of store.list()) listed.push(h);
  assert.deepEqual(listed.sort(), [...hashes].sort());
  for (const [i, h] of hashes.entries()) assert.ok((await store.readAll(h, 10_000)).equals(legacy[i]!));
  // A second init finds nothing left to move and changes nothing.
  await new LocalBlobStore(root).init();
  assert.deepEqual(listFiles(join(root, 'blobs')).sort(), hashes.map(blobRelPath).sort());
});
