// Adds chunk hashes to an export's manifest: every distinct file content larger than
// CHUNKED_FILE_MIN is read once more from where the export keeps it (ContentSource),
// hashed whole and per chunk; the chunk list is kept only if the whole hash is the
// content's name and the size is right (else that file stays whole-file), so a manifest
// never carries chunk hashes that disagree with its blob.
//
// Deliberately does not: hash during the layer pass (layer-reader.ts and the layer cache
// would need a new field; a cached layer is never read again), or upload anything.
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE, type ChunkHashes, type Manifest } from '../common/manifest.js';
import { hashChunks } from '../common/chunk-hasher.js';
import type { ContentSource } from './content-store.js';

export async function withChunkHashes(manifest: Manifest, contents: Map<string, ContentSource>, chunkSize = DEFAULT_CHUNK_SIZE): Promise<Manifest> {
  const big = new Map<string, number>();
  for (const e of manifest.entries) if (e.type === 'file' && e.size > CHUNKED_FILE_MIN && e.size > chunkSize) big.set(e.hash!, e.size);
  if (big.size === 0) return manifest;
  const byBlob: ChunkHashes['byBlob'] = {};
  for (const [hash, size] of big) {
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
