// Two misses of one blob that is not yet partially cached, arriving close together (a start
// profile's chunk prefetch and a reader, on a cold start): both find no partial file, and
// only one may create it. Were the second to create it again (open with O_TRUNC) after the
// first had written a chunk, that chunk would read back as zeros while counted present:
// a container saw "libgfortran.so.5: invalid ELF header". No mount here: ChunkCache alone,
// with a fetcher that answers at once, and the second miss started after 0..12 trips
// through libuv's thread pool (the window moves with the pool's load).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSync, readSync, closeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { sha256 } from '../../ts/common/hash.js';
import { emptyImageConfig, encodeManifest, readManifestTable, type Manifest } from '../../ts/common/manifest.js';
import { ChunkCache, type ChunkCacheHost, type ChunkFetcher } from '../../ts/worker/fuse/chunk-cache.js';

const CHUNK = 64 * 1024;
const CHUNKS = 8;

function chunkedBlob() {
  const content = randomBytes(CHUNK * CHUNKS);
  const chunkHashes = Array.from({ length: CHUNKS }, (_, i) => sha256(content.subarray(i * CHUNK, (i + 1) * CHUNK)));
  return { content, hash: sha256(content), chunkHashes };
}

test('two first misses of one blob: chunks written by the first survive the second, and every chunk answered ready reads back right', async (t) => {
  const dir = await makeTempDir(t, 'sway-chunk-race-');
  const cache = await ChunkCache.open(dir);
  const blobs = Array.from({ length: 13 }, chunkedBlob);
  const manifest: Manifest = {
    version: 1, config: emptyImageConfig(),
    entries: [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      ...blobs.map((b, i) => ({ path: `f${String(i).padStart(2, '0')}`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: b.content.length, hash: b.hash }))],
    chunks: { chunkSize: CHUNK, byBlob: Object.fromEntries(blobs.map((b) => [b.hash, b.chunkHashes])) },
  };
  const table = readManifestTable(encodeManifest(manifest));
  assert.equal(cache.register(table.chunks, table.chunkedSizes).size, blobs.length);
  const byHash = new Map(blobs.map((b) => [b.hash, b]));
  const fetcher: ChunkFetcher = {
    async fetchChunks(hash, o, onChunk) {
      const b = byHash.get(hash)!;
      for (let i = o.first; i < o.first + o.hashes.length; i++) await onChunk(i, b.content.subarray(i * CHUNK, (i + 1) * CHUNK));
    },
  };
  const ready: { hash: string; first: number; count: number; errno: number }[] = [];
  const host: ChunkCacheHost = {
    chunksReady: (hash, first, count, errno) => { ready.push({ hash, first, count, errno }); },
    addWhole: () => {},
    hasWhole: () => false,
    wholePath: (hash) => join(dir, 'whole', hash),
    onFetchError: (hash, err) => { throw new Error(`fetch of ${hash} failed: ${String(err)}`); },
  };
  const policy = { retries: 0, timeoutMs: 10_000 };
  await Promise.all(blobs.map(async (b, delay) => {
    const first = cache.serve(host, fetcher, policy, b.hash, b.content.length, CHUNK, 0, 2);
    for (let i = 0; i < delay; i++) await stat(dir); // one trip through the thread pool each
    const second = cache.serve(host, fetcher, policy, b.hash, b.content.length, CHUNK, 5, 2);
    await Promise.all([first, second]);
  }));

  for (const b of blobs) {
    const answered = ready.filter((r) => r.hash === b.hash);
    assert.ok(answered.every((r) => r.errno === 0), 'no chunk answered with an error');
    for (const i of [0, 1, 5, 6]) assert.ok(answered.some((r) => r.first <= i && i < r.first + r.count), `chunk ${i} answered`);
    const fd = openSync(cache.dataPath(b.hash), 'r');
    try {
      for (const i of [0, 1, 5, 6]) {
        const buf = Buffer.alloc(CHUNK);
        assert.equal(readSync(fd, buf, 0, CHUNK, i * CHUNK), CHUNK);
        assert.equal(sha256(buf), b.chunkHashes[i], `chunk ${i} of blob ${blobs.indexOf(b)} reads back as written (not a hole)`);
      }
    } finally {
      closeSync(fd);
    }
  }
});
