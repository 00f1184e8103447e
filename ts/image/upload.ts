// Publish an image: sync (what does the fileserver lack?), upload only that in batches
// of at most 3000 files (and ~256 MB) with a few in flight, upload the manifest blob,
// and only then point the name at the new id. Any failure before the last step leaves
// the name where it was: nothing is published.
//
// Contents an EarlyUploader sent while the layers were read are not asked for again by
// the sync (the fileserver has them), only counted.
//
// Deliberately does not: retry (the fileserver keeps what was acknowledged, so running
// the export again resumes), or read archives (archive.ts, store-image.ts).
import type { FileserverClient, UploadFile } from '../common/fileserver-client.js';
import { LIMITS } from '../common/protocol.js';
import { encodeManifest, manifestId, type Manifest } from '../common/manifest.js';
import { SwayError } from '../common/errors.js';
import type { ContentSource } from './content-store.js';
import { withChunkHashes } from './chunk-hashes.js';

const BATCH_BYTES = 256 * 1024 * 1024;
const IN_FLIGHT = 3;

export interface PublishProgress { phase: 'sync' | 'upload' | 'publish'; files: number; totalFiles: number; bytes: number; totalBytes: number }

export interface PublishResult { id: string; image: string; files: number; bytes: number; blobsUploaded: number; bytesUploaded: number }

export async function publishImage(client: FileserverClient, o: {
  manifest: Manifest; contents: Map<string, ContentSource>; name: string;
  /** Chunk hashes the reader computed already (content hash → list); the rest are computed here. */
  chunks?: Map<string, string[]>;
  /** What an EarlyUploader sent already (counted in the result). */
  earlyUploaded?: { blobs: number; bytes: number };
  onProgress?: (p: PublishProgress) => void;
}): Promise<PublishResult> {
  const blob = encodeManifest(await withChunkHashes(o.manifest, o.contents, o.chunks));
  const id = manifestId(blob);
  const files = o.manifest.entries.filter((e) => e.type === 'file' || e.type === 'hardlink');
  const bytes = files.reduce((n, e) => n + e.size, 0);
  // One sync key per distinct content: the key is the first path holding it.
  const keyOf = new Map<string, string>();
  for (const e of files) if (e.type === 'file' && !keyOf.has(e.hash!)) keyOf.set(e.hash!, e.path);
  const hashOfKey = new Map([...keyOf].map(([h, k]) => [k, h]));
  o.onProgress?.({ phase: 'sync', files: 0, totalFiles: 0, bytes: 0, totalBytes: 0 });
  const items = [...keyOf].map(([hash, key]) => ({ key, hash }));
  const toUpload: UploadFile[] = [];
  // Sync in slices: one JSON body stays far below the server's limit.
  for (let i = 0; i < items.length; i += 50000) {
    for (const key of await client.sync(items.slice(i, i + 50000))) {
      const hash = hashOfKey.get(key);
      const src = hash ? o.contents.get(hash) : undefined;
      if (!hash || !src) throw new SwayError('SWAY_EXPORT', `fileserver asked for ${JSON.stringify(key)}, which this export does not have`, 500);
      toUpload.push({ key, hash, size: src.size, open: () => src.open() });
    }
  }
  const totalBytes = toUpload.reduce((n, f) => n + f.size, 0);
  const batches: UploadFile[][] = [];
  let cur: UploadFile[] = []; let curBytes = 0;
  for (const f of toUpload) {
    if (cur.length && (cur.length >= LIMITS.maxFilesPerBatch || curBytes + f.size > BATCH_BYTES)) { batches.push(cur); cur = []; curBytes = 0; }
    cur.push(f); curBytes += f.size;
  }
  if (cur.length) batches.push(cur);
  let doneFiles = 0; let doneBytes = 0;
  o.onProgress?.({ phase: 'upload', files: 0, totalFiles: toUpload.length, bytes: 0, totalBytes });
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      await client.batchUpload(batch);
      doneFiles += batch.length; doneBytes += batch.reduce((n, f) => n + f.size, 0);
      o.onProgress?.({ phase: 'upload', files: doneFiles, totalFiles: toUpload.length, bytes: doneBytes, totalBytes });
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, batches.length) }, worker));
  o.onProgress?.({ phase: 'publish', files: doneFiles, totalFiles: toUpload.length, bytes: doneBytes, totalBytes });
  await client.putBlob(id, blob, blob.length);
  await client.setImage(o.name, id);
  const early = o.earlyUploaded ?? { blobs: 0, bytes: 0 };
  return { id, image: o.name, files: files.length, bytes, blobsUploaded: early.blobs + toUpload.length + 1, bytesUploaded: early.bytes + totalBytes + blob.length };
}
