// Decoded manifests of recently used images, and the blobs that are not manifests. Keyed
// by blob hash, so an entry never goes stale: a name that moves simply resolves to another
// id, and a blob's bytes never change. Decoding runs on worker threads (manifest-decoder.ts);
// requests for a manifest being decoded wait for that one decode. A blob that failed to
// decode (not a manifest, too big, too slow) is remembered, so asking again costs nothing:
// a user cannot make the server gunzip their gzip bomb twice. Both caches are bounded.
// Deliberately does not: check access (callers resolve and authorise the id first), or
// remember failures that say nothing of the bytes (a missing blob, a server fault).
import { ImageFormatError } from '../common/errors.js';
import { parentPath, type Manifest, type ManifestEntry } from '../common/manifest.js';
import type { BlobStore } from './store/blob-store.js';
import { ManifestDecoder } from './manifest-decoder.js';

export interface IndexedManifest {
  manifest: Manifest;
  byPath: Map<string, ManifestEntry>;
  /** Directory path → its direct children, in path order. */
  children: Map<string, ManifestEntry[]>;
}

/** What the cache has done since it started (tests read it; it says nothing of any blob). */
export interface ManifestDecodeStats {
  /** Decodes started. */
  decodes: number;
  /** Decodes that failed (each remembered). */
  failures: number;
  /** Decodes under way now. */
  inFlight: number;
}

/** Failed blobs remembered: their hash and one line each. */
const MAX_FAILURES = 4096;

export class ManifestCache {
  private readonly entries = new Map<string, IndexedManifest>();
  private readonly failures = new Map<string, ImageFormatError>();
  private readonly pending = new Map<string, Promise<IndexedManifest>>();
  private readonly counts: ManifestDecodeStats = { decodes: 0, failures: 0, inFlight: 0 };

  constructor(private readonly store: BlobStore, private readonly maxBytes: number, private readonly decoder = new ManifestDecoder(), private readonly capacity = 8) {}

  stats(): ManifestDecodeStats {
    return { ...this.counts };
  }

  close(): Promise<void> {
    return this.decoder.close();
  }

  get(id: string): Promise<IndexedManifest> {
    const hit = this.entries.get(id);
    if (hit) {
      this.entries.delete(id); // re-insert: Map order is the LRU order
      this.entries.set(id, hit);
      return Promise.resolve(hit);
    }
    const failed = this.failures.get(id);
    if (failed) return Promise.reject(new ImageFormatError(failed.message));
    let p = this.pending.get(id);
    if (!p) {
      p = this.load(id).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }

  private async load(id: string): Promise<IndexedManifest> {
    const blob = await this.store.readAll(id, this.maxBytes);
    this.counts.decodes++;
    this.counts.inFlight++;
    let manifest: Manifest;
    try {
      manifest = await this.decoder.decode(blob);
    } catch (err) {
      if (err instanceof ImageFormatError) {
        this.counts.failures++;
        this.failures.set(id, err);
        if (this.failures.size > MAX_FAILURES) this.failures.delete(this.failures.keys().next().value!);
      }
      throw err;
    } finally {
      this.counts.inFlight--;
    }
    const byPath = new Map<string, ManifestEntry>();
    const children = new Map<string, ManifestEntry[]>();
    for (const e of manifest.entries) {
      byPath.set(e.path, e);
      if (e.path === '') continue;
      const parent = parentPath(e.path);
      let list = children.get(parent);
      if (!list) children.set(parent, (list = []));
      list.push(e);
    }
    const indexed = { manifest, byPath, children };
    this.entries.set(id, indexed);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return indexed;
  }
}
