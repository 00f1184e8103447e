// Loads the C++ addon (native/build/Release/sway_fuse.node) and types its surface.
// SWAY_FUSE_ADDON overrides the path (the ASan+UBSan build lives in native/build-asan).
// Deliberately does not: validate arguments (lazy-fs.ts does) or add behaviour.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { EntryNumbers } from '../../common/manifest.js';

/** Counters of one image or of the whole mount (see native/src/counters.h). */
export interface FsCounters {
  lookups: number;
  negativeLookups: number;
  /** Answered from the in-memory tree (metadata) or needing no data (empty files). */
  memoryHits: number;
  /** Opens served from the disk cache. */
  diskHits: number;
  /** Opens whose reads the kernel serves from the cache file itself (FUSE passthrough): no READ reaches the daemon. */
  passthroughOpens: number;
  /** Bytes of passthrough files' blobs read ahead into the page cache while they were open (native/src/prefetch.h). */
  prefetchedBytes: number;
  /** Blobs fetched from the server (one per blob, however many readers waited). */
  serverFetches: number;
  bytesFetched: number;
  fetchLatencyTotalMs: number;
  fetchLatencyMaxMs: number;
  eios: number;
  reads: number;
  bytesRead: number;
}

/** Column form of a manifest, as image-columns.ts builds it. */
export interface ImageColumns extends EntryNumbers {
  /** Each entry's last path component ('' for the root). */
  names: string[];
  /** Content hash of a file, else ''. */
  hashes: string[];
  /** A symlink's target, else ''. */
  targets: string[];
  /** null, or a flat [name, value, name, value, ...]. */
  xattrs: ((string | Buffer)[] | null)[];
  /** Files fetched by chunk (native/src/chunk_map.h): the chunk size; else 0. Optional. */
  chunkSizes?: Uint32Array;
}

export interface NativeMount {
  mount(): void;
  unmount(): void;
  loadImage(id: string, names: string[], columns: ImageColumns): void;
  unloadImage(id: string): boolean;
  blobReady(hash: string, errno: number): void;
  /** Chunks [first, first + count) are in `<cacheDir>/partial/ab/cd/<hash>` (errno 0) or failed. */
  chunksReady(hash: string, first: number, count: number, errno: number, fetchedBytes: number): void;
  stats(id?: string): FsCounters | null;
  /** Requests the kernel sent on the whole connection, by FUSE opcode name ("OPEN", "FLUSH"...); those about the mount root itself as "LOOKUP@root" etc.; only those sent. */
  requestCounts(): Record<string, number>;
  openHashes(): string[];
  /** Close kept blob descriptors and (open-less) kept files no read is using, so their blobs may be evicted. */
  dropIdleFiles(): void;
  drainAccessed(): string[];
  pendingCount(): number;
}

export interface NativeMountConstructor {
  /** onMiss: a whole blob (hash, size), or a run of chunks (hash, size, chunkSize, first, count). */
  new (options: { mountpoint: string; cacheDir: string; threads: number; noOpen: boolean | 'auto' },
    onMiss: (hash: string, size: number, chunkSize?: number, first?: number, count?: number) => void): NativeMount;
}

const REPO_ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
export const ADDON_PATH = process.env.SWAY_FUSE_ADDON ?? resolve(REPO_ROOT, 'native/build/Release/sway_fuse.node');

let addon: { NativeMount: NativeMountConstructor } | undefined;

export function loadAddon(): { NativeMount: NativeMountConstructor } {
  addon ??= createRequire(import.meta.url)(ADDON_PATH) as { NativeMount: NativeMountConstructor };
  return addon;
}
