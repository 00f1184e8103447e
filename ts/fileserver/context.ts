// What every fileserver handler needs, passed explicitly (no globals): the metadata
// database, the blob store, the limits in force, the manifest cache and the log.
import type { Log } from '../common/server.js';
import { LIMITS } from '../common/protocol.js';
import { MAX_MANIFEST_JSON_BYTES } from '../common/manifest.js';
import { DEFAULT_DECODE_DEADLINE_MS } from './manifest-decoder.js';
import type { FileserverDb } from './db.js';
import type { BlobStore } from './store/blob-store.js';
import type { ManifestCache } from './manifest-cache.js';
import type { GcLock } from './gc-lock.js';
import type { BlobWriter } from './store/blob-store.js';
import type { GzipVariants } from './store/gzip-variants.js';

export interface FileserverLimits {
  /** Bytes of one upload body (one blob, one batch). */
  maxBodyBytes: number;
  /** Bytes of a JSON body (sync, fetch-batch, image name). */
  maxJsonBytes: number;
  /** Files in one PUT /batch-upload. */
  maxFilesPerBatch: number;
  /** Characters of a key or a /fetch file path. */
  maxPathLength: number;
  /** Hashes in one POST /v1/blobs/fetch-batch. */
  maxHashesPerFetch: number;
  /** Bytes of a manifest blob the server decodes (publish, legacy fetch, by-id access, profiles). */
  maxManifestBytes: number;
  /** Milliseconds a manifest decode may take before it fails (manifest-decoder.ts). */
  manifestDecodeMs: number;
  /** Bytes of one script. */
  maxScriptBytes: number;
}

export const DEFAULT_LIMITS: FileserverLimits = {
  maxBodyBytes: LIMITS.maxBodyBytes,
  maxJsonBytes: LIMITS.maxJsonBytes,
  maxFilesPerBatch: LIMITS.maxFilesPerBatch,
  maxPathLength: LIMITS.maxPathLength,
  maxHashesPerFetch: LIMITS.maxHashesPerFetch,
  // Compressed, a manifest is no bigger than its JSON (give or take gzip's few bytes).
  maxManifestBytes: MAX_MANIFEST_JSON_BYTES,
  manifestDecodeMs: DEFAULT_DECODE_DEADLINE_MS,
  maxScriptBytes: 16 * 1024 * 1024,
};

export interface FileserverContext {
  db: FileserverDb;
  store: BlobStore;
  limits: FileserverLimits;
  manifests: ManifestCache;
  gcLock: GcLock;
  /** Gzip copies of fetched blobs for clients that accept gzip (absent: always plain). */
  gzip?: GzipVariants;
  log: Log;
}

/**
 * Make staged blobs durable and visible and record `user` as their owner, as one step
 * GC cannot cut in half. Resolves only when both are done: then acknowledge.
 */
export function commitOwned(fs: FileserverContext, user: string, writers: BlobWriter[], after?: () => void): Promise<void> {
  return fs.gcLock.shared(async () => {
    await fs.store.commit(writers);
    fs.db.recordOwnership(user, writers.map((w) => w.hash));
    after?.();
  });
}
