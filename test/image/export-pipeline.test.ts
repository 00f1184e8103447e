// The export's single-pass pieces (ts/image/): chunk hashes computed while the layer is
// read and kept in the layer cache (no second read of big files), withChunkHashes using
// them without opening the content (and recomputing malformed ones), and the
// EarlyUploader sending contents to a real fileserver while reading: each content once,
// only what the fileserver lacks, failures reported as themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture } from '../fileserver/fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE, compareManifestPaths, emptyImageConfig, type Manifest } from '../../ts/common/manifest.js';
import type { ContentSource } from '../../ts/image/content-store.js';
import { readStoreLayer } from '../../ts/image/store-layer.js';
import { makeTar } from '../fixtures/image-archives.js';
import { storeLayerOf } from '../fixtures/store-layer.js';
import { LayerCache } from '../../ts/image/layer-cache.js';
import { withChunkHashes } from '../../ts/image/chunk-hashes.js';
import { EarlyUploader } from '../../ts/image/early-upload.js';
import { publishImage } from '../../ts/image/upload.js';
import { HashMismatchError } from '../../ts/common/errors.js';

const CS = DEFAULT_CHUNK_SIZE;
function chunksOf(b: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < b.length; at += CS) out.push(sha256(b.subarray(at, at + CS)));
  return out;
}
function manifestOf(files: Record<string, Buffer>): Manifest {
  return {
    version: 1, config: emptyImageConfig(),
    entries: [
      { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: 'f', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      ...Object.entries(files).map(([path, b]) => ({ path, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: b.length, hash: sha256(b) }))
        .sort((x, y) => compareManifestPaths(x.path, y.path)),
    ],
  };
}

test('readStoreLayer: a big content is hashed whole and per chunk in one pass, a small one only whole; the layer cache keeps the chunks', async (t) => {
  const big = randomBytes(CHUNKED_FILE_MIN + 3 * CS + 17);
  const small = randomBytes(CHUNKED_FILE_MIN); // not above the threshold
  const hashed: string[] = [];
  const layer = storeLayerOf(makeTar([{ name: 'a/big', content: big }, { name: 'a/small', content: small }]), await makeTempDir(t, 'sway-store-layer-'));
  const read = await readStoreLayer(layer, { onFile: async (hash, size, path) => { hashed.push(`${path}:${size}:${hash}`); } });
  assert.deepEqual(read.changes.map((c) => (c.op === 'file' ? c.hash : '')), [sha256(big), sha256(small)]);
  assert.deepEqual([...read.chunks.keys()], [sha256(big)]);
  assert.deepEqual(read.chunks.get(sha256(big)), chunksOf(big));
  assert.deepEqual(hashed, [`a/big:${big.length}:${sha256(big)}`, `a/small:${small.length}:${sha256(small)}`]);

  const cache = new LayerCache(await makeTempDir(t, 'sway-layer-cache-'));
  await cache.put('sha256:abc', { changes: [{ op: 'opaque', path: 'x' }], chunks: read.chunks });
  const back = await cache.get('sha256:abc');
  assert.deepEqual(back?.changes, [{ op: 'opaque', path: 'x' }]);
  assert.deepEqual(back?.chunks.get(sha256(big)), chunksOf(big));
});

test('withChunkHashes: known chunk lists are used without opening the content; a malformed one is recomputed from the content', async () => {
  const big = randomBytes(CHUNKED_FILE_MIN + 5 * CS);
  const manifest = manifestOf({ big });
  const h = sha256(big);
  const unopenable: ContentSource = { size: big.length, open: () => { throw new Error('opened a content whose chunks were known'); } };
  const got = await withChunkHashes(manifest, new Map([[h, unopenable]]), new Map([[h, chunksOf(big)]]));
  assert.deepEqual(got.chunks, { chunkSize: CS, byBlob: { [h]: chunksOf(big) } });

  let opened = 0;
  const readable: ContentSource = { size: big.length, open: () => { opened++; return big; } };
  const short = chunksOf(big).slice(1);
  const fixed = await withChunkHashes(manifest, new Map([[h, readable]]), new Map([[h, short]]));
  assert.equal(opened, 1);
  assert.deepEqual(fixed.chunks?.byBlob[h], chunksOf(big));
});

test('EarlyUploader: sends each content once, only what the fileserver lacks; the publish after it uploads only the manifest', { timeout: 120_000 }, async (t) => {
  const fx = await startFixture(t);
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 3050; i++) files[`f/${i}`] = Buffer.from(`content ${i}\n`); // more than one early batch
  files['f/dup'] = files['f/7']!; // same content, another path
  files['f/big'] = randomBytes(3 * 1024 * 1024);
  // One content the fileserver already has from alice: not sent again.
  await fx.alice.putBlob(sha256(files['f/3']!), files['f/3']!, files['f/3']!.length);

  const progress: number[] = [];
  const up = new EarlyUploader(fx.alice, (n) => progress.push(n));
  for (const [path, b] of Object.entries(files)) await up.add({ key: path, hash: sha256(b), size: b.length, open: () => b });
  await up.finish();
  const distinct = new Set(Object.values(files).map((b) => sha256(b)));
  assert.equal(up.blobsUploaded, distinct.size - 1);
  assert.ok(progress.length >= 2, 'at least two batches were sent');
  // Before any publish: the fileserver holds every content, and alice owns it (sync asks for none).
  for (const h of distinct) assert.equal(await fx.alice.hasBlob(h), true, h);
  assert.deepEqual(await fx.alice.sync([...distinct].map((hash, i) => ({ key: `k${i}`, hash }))), []);

  const contents = new Map<string, ContentSource>(Object.values(files).map((b) => [sha256(b), { size: b.length, open: () => { throw new Error('publish read a content the early upload sent'); } }]));
  const result = await publishImage(fx.alice, {
    manifest: manifestOf(files), contents, name: 'alice/early:1', chunks: new Map([[sha256(files['f/big']!), chunksOf(files['f/big']!)]]),
    earlyUploaded: { blobs: up.blobsUploaded, bytes: up.bytesUploaded },
  });
  assert.equal(result.blobsUploaded, distinct.size - 1 + 1); // the early ones plus the manifest
  assert.equal((await fx.alice.resolveImage('alice/early:1')).id, result.id);
  for (const path of ['f/0', 'f/dup', 'f/big']) {
    const { content } = await fx.alice.fetchFile(`alice/early:1/${path}`);
    assert.ok(content.equals(files[path]!), path);
  }
});

test('EarlyUploader: a content that changed after hashing fails the export with the hash mismatch, not later', { timeout: 60_000 }, async (t) => {
  const fx = await startFixture(t);
  const up = new EarlyUploader(fx.alice);
  const claimed = Buffer.from('what was hashed');
  await up.add({ key: 'x', hash: sha256(claimed), size: claimed.length, open: () => Buffer.from('what is there!!') });
  await assert.rejects(up.finish(), (e: unknown) => e instanceof HashMismatchError || /hash/i.test(String((e as Error).message)));
  assert.equal(up.blobsUploaded, 0);
});
