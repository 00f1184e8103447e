// Adds chunk hashes to an export's manifest: every distinct file content larger than
// CHUNKED_FILE_MIN gets one SHA-256 per chunk. Most come from the layer pass (the
// reader hashes big files whole and per chunk at once: content-store.ts, kept in the
// layer cache); only a content without them (a layer cached by an older sway) is read
// once more from where the export keeps it (ContentSource), hashed whole and per chunk,
// and kept only if the whole hash is the content's name and the size is right (else that
// file stays whole-file), so a manifest never carries chunk hashes that disagree with its blob.
//
// Deliberately does not: upload anything.
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE, chunkCount, type ChunkHashes, type Manifest } from '../common/manifest.js';
import { hashChunks } from '../common/chunk-hasher.js';
import type { ContentSource } from './content-store.js';

const HEX64 = /^[0-9a-f]{64}$/;

export async function withChunkHashes(manifest: Manifest, contents: Map<string, ContentSource>, known: Map<string, string[]> = new Map(), chunkSize = DEFAULT_CHUNK_SIZE): Promise<Manifest> {
  const big = new Map<string, number>();
  for (const e of manifest.entries) if (e.type === 'file' && e.size > CHUNKED_FILE_MIN && e.size > chunkSize) big.set(e.hash!, e.size);
  if (big.size === 0) return manifest;
  const byBlob: ChunkHashes['byBlob'] = {};
  for (const [hash, size] of big) {
    const hinted = chunkSize === DEFAULT_CHUNK_SIZE ? known.get(hash) : undefined;
    // Hashed in the same pass as the content hash; checked for shape so a damaged layer
    // cache cannot make a manifest the workers refuse.
    if (hinted && hinted.length === chunkCount(size, chunkSize) && hinted.every((h) => HEX64.test(h))) { byBlob[hash] = hinted; continue; }
    const src = contents.get(hash);
    if (!src) continue;
    const body = src.open();
    const got = await hashChunks(Buffer.isBuffer(body) ? body : (body as AsyncIterable<unknown>), chunkSize);
    // Not the content any more (or not kept here): leave it whole-file; the upload, if it
    // needs these bytes, fails on its own check.
    if (got.bytes !== size || got.hash !== hash) continue;
    byBlob[hash] = got.chunks;
  }
  return { ...manifest, chunks: { chunkSize, byBlob } };
}
